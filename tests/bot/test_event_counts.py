"""Tests of bot/event_counts.py: what one conversation event adds to its day."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest

from bot.event_counts import (
    FIGURES,
    OTHER,
    Increment,
    MalformedEvent,
    count,
    event_day,
    event_key,
    parse,
)
from tests.bot import rasa_events as ev

C = "conv-1"
DAY = date(2026, 11, 24)
M = Increment("messages")
FALLBACK = Increment("fallbacks")


def _intent(name: str) -> Increment:
    return Increment("intent", name)


#: (event, increments, counts the sender as a conversation)
CASES: Dict[str, Tuple[Dict[str, Any], Tuple[Increment, ...], bool]] = {
    "a message counts with its intent": (
        ev.user(C, "衣服太大了能换吗", "size_issue"),
        (M, _intent("size_issue")),
        True,
    ),
    "a button payload is a message too": (
        ev.user(C, "/request_human", "request_human"),
        (M, _intent("request_human")),
        True,
    ),
    "a message NLU cannot place is a fallback": (
        ev.user(C, "阿巴阿巴", "nlu_fallback", confidence=0.2),
        (M, _intent("nlu_fallback"), FALLBACK),
        True,
    ),
    "a blank message is no fallback (as action_clarify counts)": (
        ev.user(C, "   ", "nlu_fallback"),
        (M, _intent("nlu_fallback")),
        True,
    ),
    "a message without an intent counts as a message only": (
        ev.user(C, "你好", None),
        (M,),
        True,
    ),
    "an odd intent name is 'other'": (
        ev.user(C, "x", "意图; DROP TABLE"),
        (M, _intent(OTHER)),
        True,
    ),
    "the claim-opened message is a claim, by its type": (
        ev.claim_opened(C, problem="quality_issue"),
        (Increment("claims_opened", "quality_issue"),),
        False,
    ),
    "a claim-opened message without a decision has no type": (
        ev.bot(C, "utter_claim_opened", custom=None),
        (Increment("claims_opened", ""),),
        False,
    ),
    "a handoff message is a handoff, by its reason": (
        ev.handoff(C, reason="complaint"),
        (Increment("handoffs", "complaint"),),
        False,
    ),
    "an intervention (E6) is a handoff too": (
        ev.handoff(C, reason="intervention"),
        (Increment("handoffs", "intervention"),),
        False,
    ),
}

#: Events that count nothing.
NOTHING: Dict[str, Dict[str, Any]] = {
    "an existing claim's status": ev.bot(C, "utter_claim_exists"),
    "a claim offer": ev.bot(C, "utter_claim_offer"),
    "the channel's 'still waiting' answer": ev.bot(
        C, None, custom={"handoff": True, "waiting": True}
    ),
    "a handoff mark without a recorded handoff": ev.bot(C, None, custom={"handoff": True}),
    "a handoff id that is not a number": ev.bot(
        C, None, custom={"handoff": True, "handoff_id": "7"}
    ),
    "an agent's reply": ev.bot(C, None, custom={"handoff": True, "handoff_id": 3}, agent=True),
    "an action": ev.action(C, "action_handoff"),
    "a pause (a handoff's or a session start's re-pause)": ev.pause(C),
    "a slot": ev.slot(C, "awaiting", "claim_confirm"),
    "a session start": {"sender_id": C, "event": "session_started", "timestamp": ev.NOON},
    "a resume": {"sender_id": C, "event": "resume", "timestamp": ev.NOON},
    "an event type never seen": {"sender_id": C, "event": "future_event"},
}


@pytest.mark.parametrize("name", list(CASES))
def test_what_an_event_counts(name: str) -> None:
    event, increments, conversation = CASES[name]
    counted = count(event)
    assert counted is not None
    assert counted.increments == increments
    assert counted.conversation_id == (C if conversation else None)
    assert counted.day == DAY
    assert {i.figure for i in counted.increments} <= set(FIGURES)


@pytest.mark.parametrize("name", list(NOTHING))
def test_events_that_count_nothing(name: str) -> None:
    assert count(NOTHING[name]) is None


@pytest.mark.parametrize(
    ("timestamp", "override", "day"),
    [
        (1795492800.0, None, date(2026, 11, 24)),  # 12:00 China time
        (1795449600.0, None, date(2026, 11, 24)),  # 00:00 China time = 16:00 UTC the day before
        (1795449599.9, None, date(2026, 11, 23)),  # 23:59:59.9 China time
        (1795535999, None, date(2026, 11, 24)),  # an integer timestamp
        (1795492800.0, date(2026, 12, 1), date(2026, 12, 1)),  # SHOPBOT_TODAY pins the day
    ],
)
def test_the_day_is_the_china_date_or_the_pinned_one(
    timestamp: float, override: Optional[date], day: date
) -> None:
    assert event_day(timestamp, override) == day
    event = ev.user(C, "你好", "greet", at=timestamp)
    counted = count(event, override)
    assert counted is not None and counted.day == day


@pytest.mark.parametrize(
    "timestamp", [None, "1795492800", True, float("nan"), float("inf"), -1.0, 12.0, 1e12]
)
def test_a_counted_event_needs_a_plausible_time(timestamp: Any) -> None:
    event = ev.user(C, "你好", "greet")
    event["timestamp"] = timestamp
    with pytest.raises(MalformedEvent):
        count(event)


@pytest.mark.parametrize("sender", [None, "", 42, "x" * 161])
def test_a_counted_event_needs_a_sender(sender: Any) -> None:
    event = ev.user(C, "你好", "greet")
    event["sender_id"] = sender
    with pytest.raises(MalformedEvent):
        count(event)


def test_the_key_names_the_event_not_its_serialisation() -> None:
    event = ev.user(C, "衣服太大了", "size_issue")
    again = json.loads(json.dumps(event, ensure_ascii=True, indent=2))
    assert event_key(again) == event_key(event)
    reordered = dict(reversed(list(event.items())))
    assert event_key(reordered) == event_key(event)
    assert len(event_key(event)) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"timestamp": ev.NOON + 0.000001},
        {"sender_id": "conv-2"},
        {"text": "衣服太小了"},
    ],
)
def test_two_events_differ_in_key(change: Dict[str, Any]) -> None:
    event = ev.user(C, "衣服太大了", "size_issue")
    assert event_key({**event, **change}) != event_key(event)


def test_the_same_message_twice_counts_with_one_key() -> None:
    first = count(parse(ev.body(ev.claim_opened(C))))
    second = count(parse(ev.body(ev.claim_opened(C))))
    assert first is not None and second is not None
    assert first.key == second.key


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"user"',
        b"{}",
        b'{"event": "user"}',
        b'{"event": 5, "sender_id": "c"}',
        b'{"event": "user", "sender_id": ""}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed_messages_are_refused(raw: bytes) -> None:
    with pytest.raises(MalformedEvent):
        parse(raw)


def test_a_message_with_nan_inside_is_malformed() -> None:
    raw = ev.body(ev.user(C, "你好", "greet")).replace(b'"confidence": 0.93', b'"confidence": NaN')
    with pytest.raises(MalformedEvent):
        count(parse(raw))


def test_fields_of_the_wrong_type_count_what_they_can() -> None:
    event = ev.user(C, "你好", "greet")
    event["parse_data"] = "not a dict"
    counted = count(event)
    assert counted is not None and counted.increments == (M,)
    weird_bot = ev.bot(C, None)
    weird_bot["data"] = ["x"]
    weird_bot["metadata"] = None
    assert count(weird_bot) is None


#: What a real Rasa 3.6.21 server published for two conversations of the demo
#: buyer: cap-a opens a claim (AS2026111000001); cap-b says something NLU
#: reads as affirm, asks for a person and writes again while handed off.
REAL = Path(__file__).with_name("rasa_events_claim_handoff.json")


def test_a_real_conversations_events_count_as_the_dialogue_went() -> None:
    messages = json.loads(REAL.read_text(encoding="utf-8"))
    assert len(messages) == 41
    counted = [c for c in (count(parse(ev.body(m))) for m in messages) if c is not None]
    increments = [i for c in counted for i in c.increments]
    assert sorted({c.conversation_id for c in counted if c.conversation_id}) == ["cap-a", "cap-b"]
    assert increments.count(M) == 5
    assert sorted(i.label for i in increments if i.figure == "intent") == [
        "affirm",
        "affirm",
        "greet",
        "quality_issue",
        "request_human",
    ]
    assert [i for i in increments if i.figure == "claims_opened"] == [
        Increment("claims_opened", "quality_issue")
    ]
    assert [i for i in increments if i.figure == "handoffs"] == [
        Increment("handoffs", "request_human")
    ]
    assert FALLBACK not in increments
    assert len({c.key for c in counted}) == len(counted) == 7
    assert {c.day for c in counted} == {date(2026, 11, 25)}  # 09:06 China time
