"""Tests of the im channel's request handling (shopbot_rasa/channels/im.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Tuple

import pytest

from bot.auth import Identity
from bot.im_protocol import InboundMessage, signed_headers
from bot.settings import load_settings
from shopbot_rasa.channels.identity import MAX_MESSAGE_LENGTH, im_sender_id
from shopbot_rasa.channels.im import (
    ImInput,
    answered_before,
    check_request,
    message_metadata,
    webhook_answer,
)
from shopbot_rasa.channels.shop import parse_body

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
    raw: bytes, headers: Dict[str, str], worker: Worker, settings: Any = SETTINGS
) -> Tuple[int, Dict[str, str]]:
    return asyncio.run(webhook_answer(settings, headers, raw, worker, now=NOW))


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
