"""End to end: the store IM channel through the real Rasa server, action
server and IM worker, against a fake IM platform that fails, goes away and
comes back while the worker is restarted."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

import httpx
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.db.models import ImInbox
from bot.db.session import session_scope
from bot.devtools import FakeImPlatform
from bot.im_protocol import signed_headers
from bot.outbox import RATE_LIMITED, pending_counts
from bot.settings import load_settings
from tests.bot.im_strategies import (
    BODY_ERRORS,
    bad_signatures,
    expected_problem,
    portable_ids,
    valid_messages,
    wrong_type_messages,
)
from tests.e2e.conftest import IM_SECRET, ROOT, Bot
from tests.strategies import encode, fuzz, json_values


def send(bot: Bot, body: Any, raw: Optional[bytes] = None, **sign: Any) -> httpx.Response:
    content = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = signed_headers(sign.get("secret", IM_SECRET), content, now=sign.get("now"))
    return httpx.post(f"{bot.url}/webhooks/im/webhook", content=content, headers=headers)


def message(conversation: str, text: str, buyer: str = "buyer_001") -> Dict[str, str]:
    return {
        "msg_id": f"msg-{uuid.uuid4().hex[:12]}",
        "conversation_id": conversation,
        "buyer_id": buyer,
        "text": text,
    }


def wait_until(condition: Callable[[], bool], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def db_url(bot: Bot) -> str:
    return bot.stack.env["SHOPBOT_DB_URL"]


@pytest.fixture()
def platform(bot: Bot) -> Any:
    fake = FakeImPlatform(bot.im_platform_port, IM_SECRET)
    yield fake
    fake.stop()


def test_bad_requests_are_refused_and_nothing_is_recorded(bot: Bot) -> None:
    before = pending_counts(db_url(bot))
    body = message(f"im-e2e-{uuid.uuid4().hex[:6]}", "在吗")
    forged = send(bot, body, secret="not-the-secret")
    stale = send(bot, body, now=time.time() - 301)
    broken = send(bot, None, raw=b'{"msg_id": "x", ')
    missing = send(bot, {"msg_id": "x", "conversation_id": "c", "text": "t"})
    assert (forged.status_code, forged.json()) == (401, {"error": "signature_invalid"})
    assert (stale.status_code, stale.json()) == (401, {"error": "signature_stale"})
    assert (broken.status_code, broken.json()) == (400, {"error": "invalid_json"})
    assert (missing.status_code, missing.json()) == (400, {"error": "invalid_buyer_id"})
    unsigned = httpx.post(f"{bot.url}/webhooks/im/webhook", json=body)
    assert unsigned.status_code == 401
    with session_scope(db_url(bot)) as session:
        assert session.scalar(select(ImInbox.id).where(ImInbox.msg_id == body["msg_id"])) is None
    assert pending_counts(db_url(bot)) == before


def test_replies_arrive_exactly_once_in_order_across_outages_and_a_worker_restart(
    bot: Bot, platform: FakeImPlatform, demo_order: Dict[str, Any]
) -> None:
    conversations = [f"im-e2e-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    texts = ["在吗", f"我的订单{demo_order['order_id']}的衣服太大了", "能换吗", "谢谢"]
    sent: Dict[str, List[str]] = {c: [] for c in conversations}
    platform.start(reject=2)

    def say(index: int) -> None:
        for conversation in conversations:
            body = message(conversation, texts[index])
            reply = send(bot, body)
            assert (reply.status_code, reply.json()) == (200, {"status": "accepted"})
            sent[conversation].append(body["msg_id"])

    # Phase 1: the platform refuses the first two deliveries, then accepts.
    say(0)
    say(1)
    retry = send(bot, {**message(conversations[0], "在吗"), "msg_id": sent[conversations[0]][0]})
    assert (retry.status_code, retry.json()) == (200, {"status": "duplicate"})
    wait_until(lambda: all(len(platform.replies_to(c)) == 2 for c in conversations))
    assert platform.refused == 2

    # Phase 2: the platform goes away; replies pile up in the outbox.
    platform.stop()
    say(2)
    say(3)
    wait_until(lambda: pending_counts(db_url(bot)) == {"im_inbox": 0, "im_outbox": 4})

    # Phase 3: the worker restarts with undelivered replies in the outbox.
    bot.stack.stop_process("im")
    assert pending_counts(db_url(bot))["im_outbox"] == 4
    bot.stack.start_im_worker()
    platform.start(reject=1)
    wait_until(lambda: all(len(platform.replies_to(c)) == 4 for c in conversations))
    time.sleep(1.5)  # anything sent twice would arrive by now

    for conversation in conversations:
        assert platform.replies_to(conversation) == sent[conversation]
    assert platform.badly_signed == 0
    assert pending_counts(db_url(bot)) == {"im_inbox": 0, "im_outbox": 0}
    by_message = {r["reply_to"]: r for r in platform.accepted}
    answer = by_message[sent[conversations[0]][1]]
    assert answer["conversation_id"] == conversations[0]
    assert demo_order["product"] in "\n".join(m.get("text") or "" for m in answer["messages"])
    assert all(m["recipient_id"] == f"im:{conversations[0]}" for m in answer["messages"])


def test_a_long_message_is_answered_without_being_echoed(
    bot: Bot, platform: FakeImPlatform
) -> None:
    platform.start()
    conversation = f"im-e2e-{uuid.uuid4().hex[:6]}"
    body = message(conversation, "凑字数" * 2000 + "衣服太大了能换吗")
    reply = send(bot, body)
    assert reply.status_code == 200 and "凑字数" not in reply.text
    wait_until(lambda: platform.replies_to(conversation) == [body["msg_id"]])
    delivered = json.dumps(platform.accepted, ensure_ascii=False)
    assert "凑字数" not in delivered
    with session_scope(db_url(bot)) as session:
        stored = session.scalars(select(ImInbox).where(ImInbox.msg_id == body["msg_id"])).one()
    assert len(stored.text) == 2000 and stored.text.endswith("衣服太大了能换吗")


def test_another_buyer_cannot_write_in_a_bound_conversation(
    bot: Bot, platform: FakeImPlatform
) -> None:
    platform.start()
    conversation = f"im-e2e-{uuid.uuid4().hex[:6]}"
    first = message(conversation, "在吗")
    send(bot, first)
    wait_until(lambda: platform.replies_to(conversation) == [first["msg_id"]])
    intruder = message(conversation, "在吗", buyer="buyer_002")
    assert send(bot, intruder).status_code == 200
    url = db_url(bot)

    def refused() -> bool:
        with session_scope(url) as session:
            row = session.scalars(select(ImInbox).where(ImInbox.msg_id == intruder["msg_id"]))
            return row.one().last_error == "bot_http_403"

    wait_until(refused)
    assert platform.replies_to(conversation) == [first["msg_id"]]


def rate_limited_text() -> str:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    text: str = domain["responses"]["utter_rate_limited"][0]["text"]
    return text


def inbox_rows(bot: Bot, msg_ids: List[str]) -> Dict[str, ImInbox]:
    with session_scope(db_url(bot)) as session:
        rows = session.scalars(select(ImInbox).where(ImInbox.msg_id.in_(msg_ids)))
        return {row.msg_id: row for row in rows}


def test_a_buyer_over_the_rate_limit_is_told_once_and_not_answered(
    bot: Bot, platform: FakeImPlatform
) -> None:
    platform.start()
    limit = load_settings(bot.stack.env).rate_limit
    buyer = f"buyer-flood-{uuid.uuid4().hex[:6]}"
    conversation = f"im-e2e-{uuid.uuid4().hex[:6]}"
    bodies = [message(conversation, f"在吗{index}", buyer=buyer) for index in range(limit + 6)]
    with httpx.Client() as client:
        for body in bodies:
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
            reply = client.post(
                f"{bot.url}/webhooks/im/webhook",
                content=content,
                headers=signed_headers(IM_SECRET, content),
            )
            assert (reply.status_code, reply.json()) == (200, {"status": "accepted"})
    msg_ids = [body["msg_id"] for body in bodies]
    limited = [m for m in msg_ids if inbox_rows(bot, msg_ids)[m].rate_limited]
    answered = [m for m in msg_ids if m not in limited]
    assert len(answered) >= limit and len(limited) >= 3  # refills while sending: a message or two
    wait_until(lambda: len(platform.replies_to(conversation)) == len(answered) + 1)

    def done() -> bool:
        return all(row.done_at is not None for row in inbox_rows(bot, msg_ids).values())

    wait_until(done)
    replies = {r["reply_to"]: r for r in platform.accepted if r["conversation_id"] == conversation}
    told = rate_limited_text()
    notices = [m for m, r in replies.items() if told in str(r["messages"])]
    assert notices == [limited[0]]  # once, on the first message over the limit
    assert replies[limited[0]]["messages"] == [{"recipient_id": f"im:{conversation}", "text": told}]
    expected = [m for m in msg_ids if m in answered or m == limited[0]]
    assert platform.replies_to(conversation) == expected  # in order, each once
    rows = inbox_rows(bot, msg_ids)
    assert all(rows[m].last_error == RATE_LIMITED and rows[m].attempts == 0 for m in limited[1:])


# -- any body against the real webhook (hypothesis) ----------------------------

#: One buyer for every well-formed fuzz message: past the rate limit its
#: messages are stored and not run, which bounds the load on the bot.
FUZZ_BUYER = f"buyer-fuzz-{uuid.uuid4().hex[:6]}"


@pytest.fixture()
def webhook(bot: Bot) -> Any:
    with httpx.Client(base_url=bot.url, timeout=30) as client:
        yield client


def post_webhook(client: httpx.Client, raw: bytes, headers: Dict[str, str]) -> httpx.Response:
    return client.post("/webhooks/im/webhook", content=raw, headers=headers)


@fuzz(120)
@given(raw=st.binary(max_size=300) | json_values.map(encode) | wrong_type_messages.map(encode))
def test_any_signed_body_gets_200_or_its_documented_400(webhook: httpx.Client, raw: bytes) -> None:
    reply = post_webhook(webhook, raw, signed_headers(IM_SECRET, raw))
    assert reply.status_code in (200, 400), reply.text
    if reply.status_code == 400:
        assert reply.json()["error"] in BODY_ERRORS
    else:
        assert reply.json()["status"] in ("accepted", "duplicate")


@fuzz(60)
@given(value=valid_messages, data=st.data())
def test_a_valid_body_is_acknowledged_once_and_a_bad_signature_is_401(
    webhook: httpx.Client, value: Dict[str, str], data: st.DataObject
) -> None:
    value = {
        **value,
        "msg_id": f"fuzz-{uuid.uuid4().hex}",
        "conversation_id": data.draw(portable_ids),
        "buyer_id": FUZZ_BUYER,
    }
    raw = encode(value)
    headers, code = data.draw(bad_signatures(IM_SECRET, raw, int(time.time())))
    forged = post_webhook(webhook, raw, dict(headers))
    assert (forged.status_code, forged.json()) == (401, {"error": code})
    answers = [post_webhook(webhook, raw, signed_headers(IM_SECRET, raw)) for _ in range(2)]
    statuses = [(a.status_code, a.json()) for a in answers]
    if expected_problem(raw, value) == "body_too_large":
        assert statuses == [(400, {"error": "body_too_large"})] * 2
    else:
        assert statuses == [(200, {"status": "accepted"}), (200, {"status": "duplicate"})]
    assert all(len(a.content) < 100 for a in answers)  # no text echoed


def test_the_fuzzed_messages_leave_nothing_pending(bot: Bot, platform: FakeImPlatform) -> None:
    """Whatever the fuzz stored is answered and delivered (the other tests count rows)."""
    platform.start()
    wait_until(lambda: pending_counts(db_url(bot)) == {"im_inbox": 0, "im_outbox": 0})
    with session_scope(db_url(bot)) as session:
        rows = session.scalars(select(ImInbox).where(ImInbox.buyer_id == FUZZ_BUYER)).all()
    assert rows and all(row.done_at is not None for row in rows)
