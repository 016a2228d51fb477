"""Tests of the im channel's request handling (shopbot_rasa/channels/im.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Tuple

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from rasa.shared.core.domain import Domain

from bot.auth import Identity
from bot.im_protocol import RATE_DROP, RATE_NOTICE, InboundMessage, signed_headers
from bot.settings import PROJECT_ROOT, load_settings
from shopbot_rasa.channels.identity import MAX_MESSAGE_LENGTH, clip_message, im_sender_id
from shopbot_rasa.channels.im import (
    BuyerRateLimit,
    ImInput,
    answered_before,
    check_request,
    message_metadata,
    rate_limit_reply,
    webhook_answer,
)
from shopbot_rasa.channels.shop import RATE_LIMITED_RESPONSE, domain_texts, parse_body
from tests.bot.im_strategies import (
    bad_signatures,
    expected_problem,
    valid_messages,
    wrong_type_messages,
)
from tests.rasa.channel_server import ANSWER, ChannelServer, FakeImWorker
from tests.rasa.conftest import IM_SECRET
from tests.strategies import broken_bodies, encode, fuzz, json_values, texts

SECRET = "im-channel-secret"
NOW = 1_790_000_000.0
SETTINGS = load_settings(
    {"SHOPBOT_IM_SECRET": SECRET, "SHOPBOT_IM_CALLBACK_URL": "https://im.example/cb"}
)


def body(**fields: Any) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


GOOD = body(msg_id="m1", conversation_id="c1", buyer_id="buyer_001", text="衣服太大了")


class Worker:
    """Fake hand-over: records messages, answers a fixed status."""

    def __init__(self, outcome: Optional[str] = "accepted") -> None:
        self.outcome = outcome
        self.messages: List[InboundMessage] = []

    async def __call__(self, message: InboundMessage) -> Optional[str]:
        self.messages.append(message)
        return self.outcome


def call(
    raw: bytes,
    headers: Dict[str, str],
    worker: Worker,
    settings: Any = SETTINGS,
    limit: Optional[BuyerRateLimit] = None,
) -> Tuple[int, Dict[str, str]]:
    return asyncio.run(webhook_answer(settings, headers, raw, worker, now=NOW, limit=limit))


def test_a_signed_message_is_handed_over_and_acknowledged() -> None:
    worker = Worker()
    assert call(GOOD, signed_headers(SECRET, GOOD, now=NOW), worker) == (
        200,
        {"status": "accepted"},
    )
    assert worker.messages == [InboundMessage("m1", "c1", "buyer_001", "衣服太大了")]


def test_a_duplicate_is_acknowledged_as_such() -> None:
    worker = Worker("duplicate")
    assert call(GOOD, signed_headers(SECRET, GOOD, now=NOW), worker)[1] == {"status": "duplicate"}


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "signature_missing"),
        (signed_headers("wrong-secret", GOOD, now=NOW), "signature_invalid"),
        (signed_headers(SECRET, GOOD, now=NOW - 301), "signature_stale"),
        (signed_headers(SECRET, GOOD, now=NOW + 301), "signature_stale"),
    ],
)
def test_bad_signatures_are_401_and_nothing_is_handed_over(
    headers: Dict[str, str], code: str
) -> None:
    worker = Worker()
    assert call(GOOD, headers, worker) == (401, {"error": code})
    assert worker.messages == []


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{broken", "invalid_json"),
        (body(msg_id="m1", conversation_id="c1", text="x"), "invalid_buyer_id"),
        (body(msg_id="m1", conversation_id="c1", buyer_id="b", text=5), "invalid_text"),
    ],
)
def test_bad_bodies_are_400_with_a_code(raw: bytes, code: str) -> None:
    worker = Worker()
    assert call(raw, signed_headers(SECRET, raw, now=NOW), worker) == (400, {"error": code})
    assert worker.messages == []


def test_an_unavailable_worker_is_503_so_the_platform_retries() -> None:
    assert call(GOOD, signed_headers(SECRET, GOOD, now=NOW), Worker(None)) == (
        503,
        {"error": "unavailable"},
    )


def test_the_channel_is_off_without_its_settings() -> None:
    worker = Worker()
    off = load_settings({"SHOPBOT_IM_SECRET": SECRET})
    assert call(GOOD, signed_headers(SECRET, GOOD, now=NOW), worker, off)[0] == 404
    assert worker.messages == []


def test_a_long_message_keeps_its_end_and_is_never_echoed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = "前面的废话" * 1000 + "订单2026111000001衣服太大了能换吗"
    raw = body(msg_id="m2", conversation_id="c1", buyer_id="buyer_001", text=text)
    worker = Worker()
    with caplog.at_level(logging.DEBUG):
        status, answer = call(raw, signed_headers(SECRET, raw, now=NOW), worker)
    assert status == 200 and "废话" not in json.dumps(answer, ensure_ascii=False)
    handed = worker.messages[0].text
    assert len(handed) == MAX_MESSAGE_LENGTH and handed.endswith("衣服太大了能换吗")
    assert "废话" not in caplog.text


def test_the_secret_and_signature_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    headers = signed_headers("wrong-secret", GOOD, now=NOW)
    with caplog.at_level(logging.DEBUG):
        call(GOOD, headers, Worker())
        call(GOOD, signed_headers(SECRET, GOOD, now=NOW), Worker())
    assert SECRET not in caplog.text
    assert headers["X-Shop-Signature"][7:] not in caplog.text
    assert "signature_invalid" in caplog.text


def test_check_request_clips_the_text() -> None:
    raw = body(msg_id="m", conversation_id="c", buyer_id="b", text="a\x00b\nc")
    message, status, _ = check_request(SECRET, signed_headers(SECRET, raw, now=NOW), raw, NOW)
    assert status == 200 and message is not None and message.text == "ab c"


def test_the_conversation_is_namespaced_and_bound_to_the_buyer() -> None:
    message = InboundMessage("m1", "c1", "buyer_001", "在吗")
    metadata = message_metadata(message)
    assert Identity.from_metadata(metadata) == Identity("buyer_001", "buyer")
    assert metadata["im"] == {"msg_id": "m1"}
    assert im_sender_id("c1") == "im:c1"


def test_the_shop_channel_cannot_write_in_an_im_conversation() -> None:
    raw = json.dumps({"sender": im_sender_id("c1"), "message": "在吗"}).encode()
    assert parse_body(raw) == (None, "invalid_sender")


def user(msg_id: str) -> Any:
    return SimpleNamespace(type_name="user", metadata={"im": {"msg_id": msg_id}})


def bot(text: Optional[str], **data: Any) -> Any:
    return SimpleNamespace(type_name="bot", text=text, data=data)


def test_a_message_answered_before_gets_the_same_answer_again() -> None:
    events = [
        user("m1"),
        bot("一", buttons=None),
        SimpleNamespace(type_name="action"),
        bot("二", buttons=[{"title": "是", "payload": "/affirm"}]),
        user("m2"),
        bot("三"),
    ]
    assert answered_before(events, "m1", "im:c1") == [
        {"recipient_id": "im:c1", "text": "一"},
        {"recipient_id": "im:c1", "text": "二", "buttons": [{"title": "是", "payload": "/affirm"}]},
    ]
    assert answered_before(events, "m2", "im:c1") == [{"recipient_id": "im:c1", "text": "三"}]
    assert answered_before(events, "m3", "im:c1") is None
    assert answered_before([user("m4")], "m4", "im:c1") == []


def test_the_channel_is_named_im() -> None:
    assert ImInput.name() == "im"
    assert isinstance(ImInput.from_credentials(None), ImInput)


# -- the per-buyer rate limit --------------------------------------------------


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def signed(msg_id: str, buyer: str = "buyer_001", conversation: str = "c1") -> Tuple[bytes, Any]:
    raw = body(msg_id=msg_id, conversation_id=conversation, buyer_id=buyer, text="在吗")
    return raw, signed_headers(SECRET, raw, now=NOW)


def send_many(
    count: int,
    limit: Optional[BuyerRateLimit],
    worker: Worker,
    prefix: str = "m",
    buyer: str = "buyer_001",
) -> List[Tuple[int, Dict[str, str]]]:
    return [call(*signed(f"{prefix}{i}", buyer), worker, limit=limit) for i in range(count)]


def test_over_the_limit_messages_are_acknowledged_and_marked_one_notice_per_window() -> None:
    clock = Clock()
    limit = BuyerRateLimit(3, 60, clock=clock)
    worker = Worker()
    answers = send_many(6, limit, worker)
    assert answers == [(200, {"status": "accepted"})] * 6
    assert [m.rate_limit for m in worker.messages] == [
        None,
        None,
        None,
        RATE_NOTICE,
        RATE_DROP,
        RATE_DROP,
    ]
    clock.now += 20  # one message refilled, still within the notice's window
    send_many(2, limit, worker, prefix="later")
    assert [m.rate_limit for m in worker.messages[6:]] == [None, RATE_DROP]
    clock.now += 60  # a new window: the buyer is told again
    send_many(5, limit, worker, prefix="again")
    assert [m.rate_limit for m in worker.messages[8:]] == [None, None, None, RATE_NOTICE, RATE_DROP]


def test_the_limit_is_per_buyer() -> None:
    limit = BuyerRateLimit(1, 60, clock=Clock())
    worker = Worker()
    send_many(2, limit, worker, buyer="buyer_001")
    send_many(2, limit, worker, prefix="n", buyer="buyer_002")
    assert [(m.buyer_id, m.rate_limit) for m in worker.messages] == [
        ("buyer_001", None),
        ("buyer_001", RATE_NOTICE),
        ("buyer_002", None),
        ("buyer_002", RATE_NOTICE),
    ]


@pytest.mark.parametrize("outcome", [None, "duplicate"])
def test_a_notice_that_was_not_stored_goes_with_the_next_message(outcome: Optional[str]) -> None:
    limit = BuyerRateLimit(1, 60, clock=Clock())
    send_many(1, limit, Worker())
    failing = Worker(outcome)
    status, _ = call(*signed("m-over"), failing, limit=limit)
    assert status == (503 if outcome is None else 200)
    assert failing.messages[0].rate_limit == RATE_NOTICE
    worker = Worker()
    send_many(2, limit, worker, prefix="next")
    assert [m.rate_limit for m in worker.messages] == [RATE_NOTICE, RATE_DROP]


def test_without_a_limit_nothing_is_marked() -> None:
    worker = Worker()
    send_many(50, BuyerRateLimit(0, 60, clock=Clock()), worker)
    send_many(3, None, worker, prefix="x")
    assert all(m.rate_limit is None for m in worker.messages)


def test_one_log_line_per_buyer_and_window(caplog: pytest.LogCaptureFixture) -> None:
    limit = BuyerRateLimit(2, 60, clock=Clock())
    with caplog.at_level(logging.INFO, logger="shopbot_rasa.channels.im"):
        send_many(10, limit, Worker())
    lines = [r.getMessage() for r in caplog.records if "rate limit" in r.getMessage()]
    assert len(lines) == 1
    assert "buyer_001" in lines[0] and "m2" in lines[0] and "在吗" not in lines[0]


def test_a_platform_cannot_mark_its_own_messages() -> None:
    raw = body(msg_id="m", conversation_id="c", buyer_id="b", text="t", rate_limit="drop")
    headers = signed_headers(SECRET, raw, now=NOW)
    worker = Worker()
    assert call(raw, headers, worker)[0] == 200
    assert worker.messages[0].rate_limit is None
    message, _, _ = check_request(SECRET, headers, raw, NOW, marks=True)
    assert message is not None and message.rate_limit == RATE_DROP


DOMAIN = SimpleNamespace(responses={RATE_LIMITED_RESPONSE: [{"text": "慢一点"}, {"text": "二"}]})


def test_the_notice_is_the_domain_response_and_a_dropped_message_gets_nothing() -> None:
    notice = InboundMessage("m", "c1", "b", "在吗", rate_limit=RATE_NOTICE)
    assert rate_limit_reply(DOMAIN, notice) == [{"recipient_id": "im:c1", "text": "慢一点"}]
    assert rate_limit_reply(DOMAIN, InboundMessage("m", "c1", "b", "t", RATE_DROP)) == []
    real = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    assert rate_limit_reply(real, notice) == [
        {"recipient_id": "im:c1", "text": domain_texts(real, RATE_LIMITED_RESPONSE)[0]}
    ]


class Store:
    """Tracker store of conversations given as event lists."""

    def __init__(self, events: Optional[Dict[str, List[Any]]] = None) -> None:
        self.events = events or {}

    async def retrieve(self, sender_id: str) -> Optional[Any]:
        if sender_id not in self.events:
            return None
        return SimpleNamespace(events=self.events[sender_id])


def process(message: InboundMessage, store: Store) -> Tuple[int, Any, List[Any]]:
    agent = SimpleNamespace(tracker_store=store, domain=DOMAIN)
    request = SimpleNamespace(app=SimpleNamespace(ctx=SimpleNamespace(agent=agent)))
    ran: List[Any] = []

    async def on_new_message(user_message: Any) -> None:
        ran.append(user_message)

    reply = asyncio.run(ImInput(SETTINGS)._process(request, message, on_new_message))
    return reply.status, json.loads(reply.body), ran


def test_processing_a_notice_answers_it_without_running_the_bot() -> None:
    status, answer, ran = process(InboundMessage("m9", "c1", "b1", "在吗", RATE_NOTICE), Store())
    assert (status, answer, ran) == (200, [{"recipient_id": "im:c1", "text": "慢一点"}], [])
    status, _, ran = process(InboundMessage("m10", "c1", "b1", "在吗"), Store())
    assert status == 200 and [m.text for m in ran] == ["在吗"]


def test_a_notice_in_another_buyers_conversation_is_refused() -> None:
    owner = SimpleNamespace(type_name="user", metadata=Identity("b1", "buyer").as_metadata())
    store = Store({"im:c1": [owner]})
    status, answer, ran = process(InboundMessage("m", "c1", "b2", "在吗", RATE_NOTICE), store)
    assert (status, answer, ran) == (403, {"error": "conversation_forbidden"}, [])


# -- properties on a real server (hypothesis) ----------------------------------------


def decoded(raw: bytes) -> Any:
    """The body as the channel reads it (None when it is not JSON)."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


@fuzz(200)
@given(
    raw=st.binary(max_size=300)
    | broken_bodies
    | json_values.map(encode)
    | wrong_type_messages.map(encode)
    | valid_messages.map(encode),
    forged=st.booleans(),
    data=st.data(),
)
def test_any_webhook_call_gets_its_documented_answer_and_a_message_is_handed_over_once(
    channel_server: ChannelServer,
    im_worker: FakeImWorker,
    raw: bytes,
    forged: bool,
    data: st.DataObject,
) -> None:
    url = f"{channel_server.url}/webhooks/im/webhook"
    handed = len(im_worker.stored)
    if forged:
        headers, code = data.draw(bad_signatures(IM_SECRET, raw, int(time.time())))
        reply = requests.post(url, data=raw, headers=dict(headers), timeout=30)
        assert (reply.status_code, reply.json()) == (401, {"error": code})
        assert len(im_worker.stored) == handed
        return
    value = decoded(raw)
    problem = expected_problem(raw, value)
    if problem == "invalid_body" and value is None and raw.strip() != b"null":
        problem = "invalid_json"
    msg_id = value["msg_id"].strip() if problem is None else ""
    seen_before = problem is None and im_worker.find(msg_id) is not None
    answers = [
        requests.post(url, data=raw, headers=signed_headers(IM_SECRET, raw), timeout=30)
        for _ in range(2)
    ]
    statuses = [(a.status_code, a.json()) for a in answers]
    if problem is not None:
        assert statuses == [(400, {"error": problem})] * 2
        assert len(im_worker.stored) == handed
        return
    first = "duplicate" if seen_before else "accepted"
    assert statuses == [(200, {"status": first}), (200, {"status": "duplicate"})]
    stored = im_worker.find(msg_id)
    assert stored is not None and [m.msg_id for m in im_worker.stored].count(msg_id) == 1
    if not seen_before:
        assert stored.text == clip_message(value["text"])  # what NLU may see
        assert stored.conversation_id == value["conversation_id"].strip()


@fuzz(40)
@given(said=st.lists(texts.map(clip_message), min_size=1, max_size=4), data=st.data())
def test_retried_process_calls_run_each_message_once_and_replay_its_answer(
    channel_server: ChannelServer, said: List[str], data: st.DataObject
) -> None:
    """The worker asks about each message (clipped, as it stored it) 1-3
    times, in any order (a retry after it died before storing the answer, or
    asked again much later)."""
    conversation = f"fuzz-{uuid.uuid4().hex[:10]}"
    messages = [
        InboundMessage(f"{conversation}-m{i}", conversation, "b1", t) for i, t in enumerate(said)
    ]
    copies = data.draw(st.lists(st.integers(1, 3), min_size=len(said), max_size=len(said)))
    asks = data.draw(
        st.permutations([i for i, k in enumerate(copies) for _ in range(k)]), label="asks"
    )
    first: Dict[int, Any] = {}
    for index in asks:
        body = encode(vars(messages[index]))  # escapes lone surrogates, as JSON may
        reply = requests.post(
            f"{channel_server.url}/webhooks/im/process",
            data=body,
            headers=signed_headers(IM_SECRET, body),
            timeout=30,
        )
        assert reply.status_code == 200
        assert reply.json() == first.setdefault(index, reply.json())  # the same answer again
        assert reply.json() == [{"recipient_id": f"im:{conversation}", "text": ANSWER}]
    ran = [m for m in channel_server.agent.received if m.sender_id == f"im:{conversation}"]
    order = list(dict.fromkeys(asks))
    assert [m.metadata["im"]["msg_id"] for m in ran] == [messages[i].msg_id for i in order]
    # Rasa's UserMessage trims the text.
    assert [m.text for m in ran] == [clip_message(messages[i].text).strip() for i in order]
