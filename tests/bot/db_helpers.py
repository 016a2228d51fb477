"""Helpers shared by the database tests of bot/."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

from sqlalchemy import func, select

from bot.db.models import Buyer, Claim, ClaimEvent, Order, Shop
from bot.db.session import session_scope

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
