"""Export the order database in the import format (shared/spec/orders.md).

:func:`export_data` reads every shop, buyer, order and claim and returns the
document :func:`bot.importer.import_data` reads: importing an export changes
nothing. Times are written in China time with their offset, prices as
decimal strings, order ids as strings; empty optional fields are left out.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Buyer, Claim, Order, Shop
from bot.importer import ORDER_COLUMNS
from bot.settings import SHOP_TZ

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

#: Order fields in the order the format lists them.
ORDER_FIELDS = ("order_id", *ORDER_COLUMNS)
#: Claim fields in the order the format lists them.
CLAIM_FIELDS = ("order_id", "type", "status", "opened_at", "return_tracking_no", "reason")


def _value(value: Any) -> Any:
    """Return a column value in the import format's form."""
    if isinstance(value, datetime):
        return value.astimezone(SHOP_TZ).isoformat()
    if isinstance(value, int):  # bool is an int too
        return value
    if value is None:
        return None
    return str(value)


def _row(row: Any, fields: Sequence[str]) -> Dict[str, Any]:
    """Return the non-empty ``fields`` of a result row as format values."""
    out: Dict[str, Any] = {}
    for name, value in zip(fields, row, strict=True):
        if value is not None:
            out[name] = _value(value)
    return out


def export_data(session: Session) -> Dict[str, List[Dict[str, Any]]]:
    """Return the whole database as an import document.

    Args:
        session: An open session.

    Returns:
        ``{"shops": [...], "buyers": [...], "orders": [...], "claims": [...]}``,
        each list sorted by id.
    """
    connection = session.connection()
    shops = [
        {"id": r.id, "name": r.name}
        for r in connection.execute(select(Shop.id, Shop.name).order_by(Shop.id))
    ]
    buyers = [
        _row(r, ("id", "nick"))
        for r in connection.execute(select(Buyer.id, Buyer.nick).order_by(Buyer.id))
    ]
    order_columns = [getattr(Order, name) for name in ORDER_FIELDS]
    orders = [
        _row(r, ORDER_FIELDS)
        for r in connection.execute(select(*order_columns).order_by(Order.order_id))
    ]
    claim_columns = [getattr(Claim, name) for name in CLAIM_FIELDS]
    claims = [
        _row(r, CLAIM_FIELDS)
        for r in connection.execute(select(*claim_columns).order_by(Claim.order_id))
    ]
    return {"shops": shops, "buyers": buyers, "orders": orders, "claims": claims}


def dump(data: Dict[str, Any], as_json: bool = False) -> str:
    """Return the document as YAML (default) or JSON text."""
    if as_json:
        return json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    text: str = yaml.dump(
        data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, default_flow_style=False
    )
    return text


def write_export(session: Session, path: Optional[Path]) -> str:
    """Export the database to ``path`` (JSON for ``.json``, YAML otherwise).

    The file is written to a temporary name and renamed into place, so a
    failed export never leaves half a file.

    Args:
        session: An open session.
        path: The file; None returns the text without writing.

    Returns:
        The exported text.
    """
    text = dump(export_data(session), as_json=path is not None and path.suffix == ".json")
    if path is None:
        return text
    folder = path.resolve().parent
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return text


__all__ = ["CLAIM_FIELDS", "ORDER_FIELDS", "dump", "export_data", "write_export"]
