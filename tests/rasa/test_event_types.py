"""Tests of shopbot_rasa/patches/event_types.py: event classes found by name once."""

from __future__ import annotations

import pytest
import rasa
from rasa.shared.core.events import Event, SlotSet, UserUttered, deserialise_events
from rasa.shared.utils.common import all_subclasses

from shopbot_rasa import patches
from shopbot_rasa.patches import event_types
from shopbot_rasa.patches.expected import PatchMismatchError


def _original() -> object:
    event_types.install()
    return Event.__dict__["resolve_by_type"].__func__.__wrapped__


def test_the_patch_is_registered_and_installed_once() -> None:
    assert event_types.install in patches.INSTALLERS
    event_types.install()
    first = Event.__dict__["resolve_by_type"]
    event_types.install()
    assert Event.__dict__["resolve_by_type"] is first


def test_every_event_name_gives_rasas_class_twice() -> None:
    original = _original()
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert len(names) >= 20
    for name in sorted(names):
        expected = original(name)  # type: ignore[operator]
        assert Event.resolve_by_type(name) is expected
        assert Event.resolve_by_type(name, default=SlotSet) is expected  # remembered


def test_unknown_names_get_rasas_answers() -> None:
    original = _original()
    assert Event.resolve_by_type("topic") is None is original("topic")  # type: ignore[operator]
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        Event.resolve_by_type("no_such_event")
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        original("no_such_event")  # type: ignore[operator]


def test_events_read_back_as_before() -> None:
    event_types.install()
    stored = [
        UserUttered("订单2026111000001", {"name": "query_order", "confidence": 0.9}).as_dict(),
        SlotSet("order_id", "2026111000001").as_dict(),
        {"event": "action", "name": "action_answer"},
        {"event": "pause"},
    ]
    events = deserialise_events(stored)
    assert [type(event).__name__ for event in events] == [
        "UserUttered",
        "SlotSet",
        "ActionExecuted",
        "ConversationPaused",
    ]
    assert [event.as_dict()["event"] for event in events] == ["user", "slot", "action", "pause"]


def test_install_refuses_another_rasa_version(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _original()
    monkeypatch.setattr(Event, "resolve_by_type", staticmethod(original))
    monkeypatch.setattr(rasa, "__version__", "3.6.22")
    with pytest.raises(PatchMismatchError, match=r"3\.6\.22"):
        event_types.install()
    assert Event.__dict__["resolve_by_type"].__func__ is original
