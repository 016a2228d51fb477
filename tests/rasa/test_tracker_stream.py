"""Tests of shopbot_rasa/patches/tracker_stream.py: new events streamed without a reload.

Two SQL tracker stores (SQLite) with a recording broker save the same
trackers: one with the patch, one with Rasa's own ``stream_events``; the
brokers must receive the same events, and the stores hold the same rows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict, List

import pytest
import rasa
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from shopbot_rasa.patches import INSTALLERS, tracker_stream
from shopbot_rasa.patches.expected import PatchMismatchError

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, query_order]
slots:
  order_id:
    type: text
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: "你好"}]
"""
)


class Broker:
    """Records what a tracker store publishes."""

    def __init__(self) -> None:
        self.published: List[Dict[str, Any]] = []

    def publish(self, body: Dict[str, Any]) -> None:
        self.published.append(body)


class RasasOwn(SQLTrackerStore):
    """The SQL tracker store with Rasa's own stream_events."""

    stream_events = TrackerStore.stream_events  # type: ignore[assignment]


def _store(cls: type, path: Path, broker: Broker, domain: Any = DOMAIN) -> SQLTrackerStore:
    return cls(domain, dialect="sqlite", db=str(path), event_broker=broker)  # type: ignore[no-any-return]


def _turn(n: int, at: float) -> List[Any]:
    return [
        UserUttered(f"订单{n}", {"name": "query_order", "confidence": 0.9}, timestamp=at),
        ActionExecuted("action_answer", timestamp=at + 0.1),
        BotUttered("好的", timestamp=at + 0.2),
        SlotSet("order_id", str(n), timestamp=at + 0.3),
        ActionExecuted("action_listen", timestamp=at + 0.4),
    ]


def _conversation(sender: str) -> List[List[Any]]:
    """What the tracker holds after each save: turns, then a new session, then more."""
    start = [SessionStarted(timestamp=1.0), ActionExecuted("action_listen", timestamp=1.1)]
    steps: List[List[Any]] = [start + _turn(1, 2.0)]
    steps.append(steps[-1] + _turn(2, 3.0))
    steps.append(steps[-1])  # saved again with nothing new
    restart = [SessionStarted(timestamp=10.0), ActionExecuted("action_listen", timestamp=10.1)]
    steps.append(steps[-1] + restart + _turn(3, 11.0))
    steps.append(steps[-1] + _turn(4, 12.0))
    return steps


@pytest.mark.parametrize("domain", [DOMAIN, None])
def test_the_same_events_are_streamed_and_stored(tmp_path: Path, domain: Any) -> None:
    tracker_stream.install()
    mine, theirs = Broker(), Broker()
    patched = _store(SQLTrackerStore, tmp_path / "patched.db", mine, domain)
    original = _store(RasasOwn, tmp_path / "original.db", theirs, domain)
    assert SQLTrackerStore.stream_events is tracker_stream.stream_events

    async def run() -> None:
        for sender in ("c1", "c2"):
            for events in _conversation(sender):
                for store in (patched, original):
                    await store.save(DialogueStateTracker.from_events(sender, list(events)))

    asyncio.run(run())
    assert mine.published == theirs.published
    assert len(mine.published) > 20
    with patched.session_scope() as a, original.session_scope() as b:
        rows = [
            [(e.sender_id, e.type_name, e.data) for e in s.query(store.SQLEvent).order_by("id")]
            for s, store in ((a, patched), (b, original))
        ]
    assert rows[0] == rows[1]


def test_without_a_broker_nothing_is_streamed(tmp_path: Path) -> None:
    tracker_stream.install()
    store = SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"))
    tracker = DialogueStateTracker.from_events("c1", _conversation("c1")[0])
    asyncio.run(store.save(tracker))
    assert asyncio.run(store.retrieve("c1")) is not None


def test_the_patch_is_registered_and_installed_once() -> None:
    assert tracker_stream.install in INSTALLERS
    tracker_stream.install()
    tracker_stream.install()
    assert SQLTrackerStore.__dict__["stream_events"] is tracker_stream.stream_events


def test_install_refuses_another_rasa_version(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker_stream.install()
    monkeypatch.delattr(SQLTrackerStore, "stream_events")
    monkeypatch.setattr(rasa, "__version__", "3.6.20")
    with pytest.raises(PatchMismatchError, match=r"3\.6\.20"):
        tracker_stream.install()
    assert "stream_events" not in SQLTrackerStore.__dict__


def test_install_refuses_a_changed_save(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker_stream.install()
    monkeypatch.delattr(SQLTrackerStore, "stream_events")

    async def save(self: Any, tracker: Any) -> None:
        return None

    monkeypatch.setattr(SQLTrackerStore, "save", save)
    with pytest.raises(PatchMismatchError, match=r"SQLTrackerStore\.save"):
        tracker_stream.install()
