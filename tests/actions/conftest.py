"""Fixtures for action tests: a real SQLite database behind get_settings()."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from rasa_sdk import Tracker

from bot.db.migrate import upgrade
from bot.db.session import dispose_engines, session_scope
from bot.importer import import_data
from bot.settings import get_settings
from tests.conftest import small_order_set


@pytest.fixture()
def seeded_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'actions.sqlite3'}"
    monkeypatch.setenv("SHOPBOT_DB_URL", url)
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    upgrade(url)
    with session_scope(url) as session:
        import_data(small_order_set(), session)
    yield url
    get_settings.cache_clear()
    dispose_engines()


def make_tracker(
    text: str,
    intent: str,
    *,
    buyer: Optional[str] = "buyer_a",
    entities: Optional[List[Dict[str, Any]]] = None,
    slots: Optional[Dict[str, Any]] = None,
) -> Tracker:
    """A tracker whose latest message came through the shop channel."""
    metadata = {"shopbot": {"sub": buyer, "role": "buyer"}} if buyer else {}
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.99},
        "entities": entities or [],
        "metadata": metadata,
    }
    events = [{"event": "user", "text": text, "parse_data": latest, "metadata": metadata}]
    return Tracker("conv-1", slots or {}, latest, events, False, None, {}, "action_listen")
