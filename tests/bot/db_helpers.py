"""Helpers shared by the database tests of bot/."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

from sqlalchemy import func, select

from bot.db.models import Buyer, Claim, ClaimEvent, Order, Shop
from bot.db.session import session_scope
from bot.settings import Settings, load_settings

#: The demo data shipped with the project.
DEMO_FILE = Path(__file__).resolve().parents[2] / "data" / "demo" / "orders.yaml"

MODELS = (Shop, Buyer, Order, Claim, ClaimEvent)


def row_counts(url: str) -> Dict[str, int]:
    """Return the number of rows of every table."""
    with session_scope(url) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in MODELS
        }


def snapshot(url: str) -> Dict[str, List[Tuple[Any, ...]]]:
    """Return every row of every table, sorted, for before/after comparisons."""
    result: Dict[str, List[Tuple[Any, ...]]] = {}
    with session_scope(url) as session:
        for model in MODELS:
            columns = list(model.__table__.columns)
            rows = session.execute(select(*columns)).all()
            result[model.__tablename__] = sorted((tuple(row) for row in rows), key=repr)
    return result


#: The demo day the demo data is written for (data/demo/orders.yaml).
DEMO_DAY = "2026-11-24"


def settings_for(url: str, tmp_path: Path, today: str = DEMO_DAY, **extra: str) -> Settings:
    """Settings on the database ``url`` with today pinned; ``extra`` adds variables."""
    return load_settings(
        {"SHOPBOT_DB_URL": url, "SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_TODAY": today, **extra}
    )
