"""Tests of actions/base.py and actions/session.py when the order database is unreachable.

The database is a real PostgreSQL URL on a port where nothing listens: every
connection is refused, as when the database's machine is gone.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from rasa_sdk import Action
from rasa_sdk.events import (
    ActionExecuted,
    ConversationPaused,
    FollowupAction,
    SessionStarted,
    SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher

from actions.after_sales import ActionAnswer
from actions.claims import ActionConfirmClaim
from actions.handoff import ActionHandoff
from actions.session import ActionSessionStart
from bot.db.session import dispose_engines
from bot.devtools import free_port
from bot.settings import get_settings
from tests.actions.conftest import make_tracker

PASSWORD = "not-for-the-log-4711"


@pytest.fixture()
def unreachable_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"postgresql+psycopg://shop:{PASSWORD}@127.0.0.1:{free_port()}/orders"
    monkeypatch.setenv("SHOPBOT_DB_URL", url)
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    dispose_engines()


def run(action: Action, tracker: Any) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages, events


@pytest.mark.parametrize(
    ("action", "intent", "slots"),
    [
        (ActionAnswer(), "logistics_query", {"order_id": "2026110500002"}),
        (
            ActionConfirmClaim(),
            "affirm",
            {"order_id": "2026110100001", "problem": "quality_issue", "awaiting": "claim_confirm"},
        ),
        (ActionHandoff(), "request_human", {}),
    ],
)
def test_an_unreachable_database_gets_utter_busy_and_changes_nothing(
    unreachable_db: str,
    caplog: pytest.LogCaptureFixture,
    action: Action,
    intent: str,
    slots: Dict[str, Any],
) -> None:
    with caplog.at_level(logging.ERROR, logger="actions.base"):
        messages, events = run(action, make_tracker("在吗", intent, slots=slots))
    assert [m["response"] for m in messages] == ["utter_busy"]
    # No slot changes, no pause: the state stays as it was; the bot listens.
    assert events == [FollowupAction("action_listen")]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "actions.base"]
    assert action.name() in line and "unavailable" in line and "OperationalError" in line
    assert "postgresql 127.0.0.1" in line and "conv-1" in line
    assert PASSWORD not in caplog.text and "shop:" not in caplog.text


def test_a_session_starts_without_the_handoff_check_when_the_database_is_away(
    unreachable_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = make_tracker("在吗", "greet", slots={"order_id": "2026110500002"})
    with caplog.at_level(logging.ERROR, logger="actions.session"):
        messages, events = run(ActionSessionStart(), tracker)
    assert messages == []
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted("action_listen")
    assert SlotSet("order_id", "2026110500002") in events
    assert ConversationPaused() not in events
    (line,) = [r.getMessage() for r in caplog.records if r.name == "actions.session"]
    assert "unavailable" in line and "without the handoff check" in line
    assert PASSWORD not in caplog.text
