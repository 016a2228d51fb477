"""Tests of bot/outbox.py on SQLite and PostgreSQL: de-duplication, order,
leases, backoff, and the processing and delivery steps."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select

from bot.db.models import ImInbox, ImOutbox
from bot.db.session import session_scope
from bot.im_protocol import RATE_DROP, RATE_NOTICE, InboundMessage, signed_headers, verify
from bot.im_worker import ImWorker
from bot.outbox import (
    RATE_LIMITED,
    Backoff,
    Queue,
    answer,
    claim_next,
    deliver_next,
    enqueue,
    finish,
    pending_counts,
    process_next,
    receive,
    retry_later,
    utc_now,
)
from tests.bot.db_helpers import settings_for
from tests.bot.dialogue_helpers import (
    FakeDialogue,
    Said,
    check_claims,
    forget_claims,
    scripts_of,
    stored_claims,
)
from tests.strategies import fuzz

SECRET = "outbox-secret"
CALLBACK = "https://im.example/callback?token=abc"
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


def queue(url: str, clock: Clock, owner: str = "w1") -> Queue:
    return Queue(url=url, owner=owner, lease_s=60, backoff=Backoff(1, 8), clock=clock)


def message(msg_id: str, conversation: str = "c1", text: str = "在吗") -> InboundMessage:
    return InboundMessage(msg_id, conversation, "buyer_001", text)


class Platform:
    """Records deliveries; answers the statuses it is given, then 200."""

    def __init__(self, statuses: Optional[List[int]] = None) -> None:
        self.statuses = list(statuses or [])
        self.received: List[Dict[str, Any]] = []

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        assert url == CALLBACK
        verify(SECRET, headers, body)
        status = self.statuses.pop(0) if self.statuses else 200
        if 200 <= status < 300:
            self.received.append(json.loads(body))
        return status


def bot_answer(message: InboundMessage) -> Tuple[int, Optional[List[Dict[str, Any]]]]:
    return 200, [{"recipient_id": f"im:{message.conversation_id}", "text": f"re {message.text}"}]


def test_a_message_is_stored_once_per_msg_id(migrated_url: str) -> None:
    assert receive(migrated_url, message("m1"), now=T0)
    assert not receive(migrated_url, message("m1", text="retry of the platform"), now=T0)
    with session_scope(migrated_url) as session:
        rows = session.scalars(select(ImInbox)).all()
    assert [(r.msg_id, r.text) for r in rows] == [("m1", "在吗")]


def test_duplicates_are_recognised_after_the_message_was_answered(
    migrated_url: str, clock: Clock
) -> None:
    receive(migrated_url, message("m1"), now=T0)
    assert process_next(queue(migrated_url, clock), bot_answer) == "answered"
    assert not receive(migrated_url, message("m1"), now=T0)
    assert pending_counts(migrated_url) == {"im_inbox": 0, "im_outbox": 1}


def test_rate_limited_messages_are_stored_and_only_the_notice_is_asked(
    migrated_url: str, clock: Clock
) -> None:
    work = queue(migrated_url, clock)
    receive(migrated_url, message("m1"), now=T0)
    receive(migrated_url, replace(message("m2"), rate_limit=RATE_NOTICE), now=T0)
    receive(migrated_url, replace(message("m3"), rate_limit=RATE_DROP), now=T0)
    assert not receive(migrated_url, message("m3"), now=T0)  # a retry stays a duplicate
    asked: List[InboundMessage] = []

    def ask(inbound: InboundMessage) -> Tuple[int, Optional[List[Dict[str, Any]]]]:
        asked.append(inbound)
        return bot_answer(inbound)

    while process_next(work, ask) is not None:
        pass
    assert [(m.msg_id, m.rate_limit) for m in asked] == [("m1", None), ("m2", RATE_NOTICE)]
    with session_scope(migrated_url) as session:
        rows = {r.msg_id: r for r in session.scalars(select(ImInbox))}
        replies = session.scalars(select(ImOutbox.reply_to).order_by(ImOutbox.id)).all()
    assert [rows[m].rate_limited for m in ("m1", "m2", "m3")] == [False, True, True]
    assert rows["m3"].done_at == T0 and rows["m3"].last_error == RATE_LIMITED
    assert rows["m3"].attempts == 0
    assert replies == ["m1", "m2"]


def test_only_the_oldest_pending_row_of_a_conversation_is_claimed(
    migrated_url: str, clock: Clock
) -> None:
    for msg_id, conversation in [("a1", "A"), ("a2", "A"), ("b1", "B")]:
        receive(migrated_url, message(msg_id, conversation), now=T0)
    first = claim_next(queue(migrated_url, clock, "w1"), ImInbox)
    second = claim_next(queue(migrated_url, clock, "w2"), ImInbox)
    assert first is not None and first.msg_id == "a1"
    assert second is not None and second.msg_id == "b1"  # a2 waits for a1
    assert claim_next(queue(migrated_url, clock, "w3"), ImInbox) is None
    finish(queue(migrated_url, clock, "w1"), ImInbox, first.id)
    third = claim_next(queue(migrated_url, clock, "w3"), ImInbox)
    assert third is not None and third.msg_id == "a2"


def test_a_leased_row_is_taken_over_only_after_its_lease(migrated_url: str, clock: Clock) -> None:
    receive(migrated_url, message("m1"), now=T0)
    row = claim_next(queue(migrated_url, clock, "dead"), ImInbox)
    assert row is not None and row.lease_owner == "dead" and row.attempts == 1
    clock.advance(59)
    assert claim_next(queue(migrated_url, clock, "w2"), ImInbox) is None
    clock.advance(2)
    again = claim_next(queue(migrated_url, clock, "w2"), ImInbox)
    assert again is not None and again.id == row.id
    assert again.lease_owner == "w2" and again.attempts == 2


def test_backoff_doubles_up_to_its_longest_wait() -> None:
    backoff = Backoff(1, 8)
    assert [backoff.delay_s(n) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert Backoff(0.5, 300).delay_s(1000) == 300


def test_a_failed_row_waits_for_its_backoff(migrated_url: str, clock: Clock) -> None:
    work = queue(migrated_url, clock)
    receive(migrated_url, message("m1"), now=T0)
    row = claim_next(work, ImInbox)
    assert row is not None
    assert retry_later(work, ImInbox, row.id, "bot_http_0") == T0 + timedelta(seconds=1)
    assert claim_next(work, ImInbox) is None
    clock.advance(1)
    row = claim_next(work, ImInbox)
    assert row is not None
    assert retry_later(work, ImInbox, row.id, "bot_http_503") == clock.now + timedelta(seconds=2)
    with session_scope(migrated_url) as session:
        stored = session.scalars(select(ImInbox)).one()
    assert (stored.attempts, stored.last_error, stored.lease_owner) == (2, "bot_http_503", None)


def test_retry_later_leaves_a_row_leased_by_someone_else(migrated_url: str, clock: Clock) -> None:
    receive(migrated_url, message("m1"), now=T0)
    row = claim_next(queue(migrated_url, clock, "w1"), ImInbox)
    assert row is not None
    retry_later(queue(migrated_url, clock, "intruder"), ImInbox, row.id, "x")
    with session_scope(migrated_url) as session:
        assert session.scalars(select(ImInbox.lease_owner)).one() == "w1"


def test_answering_twice_queues_one_reply(migrated_url: str, clock: Clock) -> None:
    work = queue(migrated_url, clock)
    receive(migrated_url, message("m1"), now=T0)
    row = claim_next(work, ImInbox)
    assert row is not None
    assert answer(work, row, [{"text": "一"}])
    assert not answer(work, row, [{"text": "二"}])
    with session_scope(migrated_url) as session:
        replies = session.scalars(select(ImOutbox)).all()
    assert [(r.reply_to, r.messages) for r in replies] == [("m1", [{"text": "一"}])]


def test_an_empty_answer_queues_nothing(migrated_url: str, clock: Clock) -> None:
    receive(migrated_url, message("m1"), now=T0)
    assert process_next(queue(migrated_url, clock), lambda m: (200, [])) == "answered"
    assert pending_counts(migrated_url) == {"im_inbox": 0, "im_outbox": 0}


@pytest.mark.parametrize("status", [400, 403, 413])
def test_a_message_the_bot_refuses_for_good_is_closed(
    migrated_url: str, clock: Clock, status: int
) -> None:
    receive(migrated_url, message("m1"), now=T0)
    assert process_next(queue(migrated_url, clock), lambda m: (status, None)) == "rejected"
    with session_scope(migrated_url) as session:
        row = session.scalars(select(ImInbox)).one()
    assert row.done_at is not None and row.last_error == f"bot_http_{status}"
    assert pending_counts(migrated_url)["im_outbox"] == 0


@pytest.mark.parametrize("status", [0, 404, 500, 503])
def test_an_unavailable_bot_is_asked_again_later(
    migrated_url: str, clock: Clock, status: int
) -> None:
    work = queue(migrated_url, clock)
    receive(migrated_url, message("m1"), now=T0)
    assert process_next(work, lambda m: (status, None)) == "retry"
    assert process_next(work, bot_answer) is None  # not due yet
    clock.advance(1)
    assert process_next(work, bot_answer) == "answered"


def test_replies_are_delivered_signed_in_order_after_failures(
    migrated_url: str, clock: Clock
) -> None:
    work = queue(migrated_url, clock)
    for msg_id in ["m1", "m2", "m3"]:
        receive(migrated_url, message(msg_id, text=msg_id), now=T0)
    while process_next(work, bot_answer):
        pass
    platform = Platform([503, 0, 500])
    outcomes = []
    for _ in range(40):
        outcomes.append(deliver_next(work, SECRET, CALLBACK, platform))
        clock.advance(1)
    assert outcomes.count("retry") == 3 and outcomes.count("delivered") == 3
    assert [r["reply_to"] for r in platform.received] == ["m1", "m2", "m3"]
    assert platform.received[0] == {
        "conversation_id": "c1",
        "reply_to": "m1",
        "messages": [{"recipient_id": "im:c1", "text": "re m1"}],
    }
    assert pending_counts(migrated_url)["im_outbox"] == 0


def test_a_conversation_in_backoff_does_not_hold_up_others(migrated_url: str, clock: Clock) -> None:
    work = queue(migrated_url, clock)
    receive(migrated_url, message("a1", "A"), now=T0)
    receive(migrated_url, message("b1", "B"), now=T0)
    while process_next(work, bot_answer):
        pass
    platform = Platform([503])
    assert deliver_next(work, SECRET, CALLBACK, platform) == "retry"
    assert deliver_next(work, SECRET, CALLBACK, platform) == "delivered"
    assert [r["reply_to"] for r in platform.received] == ["b1"]


def test_a_reply_claimed_by_a_dead_worker_is_delivered_once_by_the_next(
    migrated_url: str, clock: Clock
) -> None:
    receive(migrated_url, message("m1"), now=T0)
    process_next(queue(migrated_url, clock), bot_answer)
    assert claim_next(queue(migrated_url, clock, "dead"), ImOutbox) is not None
    platform = Platform()
    fresh = queue(migrated_url, clock, "fresh")
    assert deliver_next(fresh, SECRET, CALLBACK, platform) is None
    clock.advance(61)
    assert deliver_next(fresh, SECRET, CALLBACK, platform) == "delivered"
    clock.advance(120)
    assert deliver_next(fresh, SECRET, CALLBACK, platform) is None
    assert len(platform.received) == 1


def test_an_agents_messages_are_delivered_in_turn_with_reply_to_null(
    migrated_url: str, clock: Clock
) -> None:
    work = queue(migrated_url, clock)
    receive(migrated_url, message("m1", text="m1"), now=T0)
    process_next(work, bot_answer)
    agent = [{"recipient_id": "im:c1", "text": "您好，我是客服小王", "custom": {"agent": True}}]
    first = enqueue(migrated_url, "c1", agent, now=T0)
    second = enqueue(migrated_url, "c1", agent, now=T0)
    assert first != second  # many agent messages: no unique reply_to to collide on
    platform = Platform([503])
    for _ in range(10):
        deliver_next(work, SECRET, CALLBACK, platform)
        clock.advance(2)
    assert [r["reply_to"] for r in platform.received] == ["m1", None, None]
    assert platform.received[1] == {"conversation_id": "c1", "reply_to": None, "messages": agent}
    assert pending_counts(migrated_url)["im_outbox"] == 0


# -- property: duplicated and reordered deliveries, with claims ---------------------


@pytest.fixture()
def im_worker(demo_url: str, tmp_path: Path) -> Iterator[ImWorker]:
    """An IM worker on the demo database (its loops not started)."""
    worker = ImWorker(
        settings_for(demo_url, tmp_path, SHOPBOT_IM_SECRET=SECRET, SHOPBOT_IM_CALLBACK_URL=CALLBACK)
    )
    yield worker
    worker.stop()


@fuzz(20)
@given(script=scripts_of(2, 2), data=st.data())
def test_duplicated_reordered_deliveries_are_answered_once_in_arrival_order(
    im_worker: ImWorker, script: List[List[Said]], data: st.DataObject
) -> None:
    """The platform sends each message 1-3 times, in any order, while the
    worker's loops run; the bot (a fake Rasa over the real conversation
    logic) and the platform fail now and then. Every distinct message is
    answered once, in the order its first copy was acknowledged (the only
    order the protocol defines: per conversation, first come first served),
    every reply is delivered once in that order, and the claims are exactly
    those the buyer confirmed."""
    settings = im_worker.settings
    demo_url = settings.db_url
    forget_claims(demo_url)
    with session_scope(demo_url) as session:
        session.execute(delete(ImOutbox))
        session.execute(delete(ImInbox))
    clock = Clock()
    clock.now = utc_now()
    work = queue(demo_url, clock)
    dialogue = FakeDialogue(settings, unavailable=data.draw(st.integers(0, 2), label="bot down"))
    platform = Platform(data.draw(st.lists(st.sampled_from([0, 500, 503]), max_size=3)))
    sent = {
        f"c{c}-m{i}": InboundMessage(f"c{c}-m{i}", f"c{c}", "buyer_001", said.text)
        for c, lines in enumerate(script)
        for i, said in enumerate(lines)
    }
    copies = data.draw(st.lists(st.integers(1, 3), min_size=len(sent), max_size=len(sent)))
    deliveries = data.draw(
        st.permutations([m for m, k in zip(sent, copies, strict=True) for _ in range(k)]),
        label="deliveries",
    )
    arrived: List[str] = []
    for msg_id in deliveries:
        body = sent[msg_id].to_json()
        status, answer = im_worker.accept(signed_headers(SECRET, body), body)
        first = msg_id not in arrived
        assert (status, answer) == (200, {"status": "accepted" if first else "duplicate"})
        arrived += [msg_id] if first else []
        for _ in range(data.draw(st.integers(0, 2), label="worker steps")):
            process_next(work, dialogue)
            deliver_next(work, SECRET, CALLBACK, platform)
    for _ in range(4 * len(sent) + 20):
        if pending_counts(demo_url) == {"im_inbox": 0, "im_outbox": 0}:
            break
        process_next(work, dialogue)
        deliver_next(work, SECRET, CALLBACK, platform)
        clock.advance(10)
    assert pending_counts(demo_url) == {"im_inbox": 0, "im_outbox": 0}
    delivered = [reply["reply_to"] for reply in platform.received]
    for c in range(len(script)):
        expected = [m for m in arrived if m.startswith(f"c{c}-")]
        assert [step.msg_id for step in dialogue.transcripts[f"c{c}"]] == expected
        assert [m for m in delivered if m.startswith(f"c{c}-")] == expected
    assert sorted(delivered) == sorted(sent)
    check_claims(dialogue.transcripts, stored_claims(demo_url))
