"""Tests of bot/im_protocol.py: signatures, the clock window, message bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Dict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.im_protocol import (
    CLOCK_WINDOW_S,
    MAX_BODY_BYTES,
    RATE_MARKS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InboundMessage,
    SignatureError,
    parse_inbound,
    reply_body,
    signature,
    signed_headers,
    verify,
)
from tests.bot.im_strategies import (
    BODY_ERRORS,
    ID_FIELDS,
    bad_signatures,
    expected_problem,
    signed_at,
    valid_messages,
    wrong_type_messages,
)
from tests.strategies import encode, fuzz, json_values

SECRET = "im-test-secret"
NOW = 1_790_000_000.0


def body(**fields: Any) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


GOOD = body(msg_id="m1", conversation_id="c1", buyer_id="buyer_001", text="在吗")


def reason(headers: dict[str, str], raw: bytes = GOOD, now: float = NOW) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(SECRET, headers, raw, now=now)
    return caught.value.reason


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1790000000." + GOOD, hashlib.sha256).hexdigest()
    assert signature(SECRET, "1790000000", GOOD) == f"sha256={expected}"


def test_signed_headers_verify() -> None:
    headers = signed_headers(SECRET, GOOD, now=NOW)
    assert headers[TIMESTAMP_HEADER] == "1790000000"
    verify(SECRET, headers, GOOD, now=NOW)


def test_lower_case_header_names_are_read() -> None:
    headers = {k.lower(): v for k, v in signed_headers(SECRET, GOOD, now=NOW).items()}
    verify(SECRET, headers, GOOD, now=NOW)


def test_missing_headers_are_refused() -> None:
    headers = signed_headers(SECRET, GOOD, now=NOW)
    assert reason({}) == "missing"
    assert reason({TIMESTAMP_HEADER: headers[TIMESTAMP_HEADER]}) == "missing"
    assert reason({SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}) == "missing"


def test_a_changed_body_secret_or_timestamp_breaks_the_signature() -> None:
    headers = signed_headers(SECRET, GOOD, now=NOW)
    assert reason(headers, raw=GOOD.replace(b"m1", b"m2")) == "invalid"
    assert reason(signed_headers("other-secret", GOOD, now=NOW)) == "invalid"
    moved = {**headers, TIMESTAMP_HEADER: str(int(NOW) + 1)}
    assert reason(moved) == "invalid"
    assert reason({**headers, SIGNATURE_HEADER: headers[SIGNATURE_HEADER].upper()}) == "invalid"
    assert reason({**headers, SIGNATURE_HEADER: "sha256=" + "0" * 64}) == "invalid"
    assert reason({**headers, SIGNATURE_HEADER: "签名"}) == "invalid"


@pytest.mark.parametrize("stamp", ["-5", "1.5e9", "abc", "１２３", "9" * 20])
def test_malformed_timestamps_are_refused(stamp: str) -> None:
    headers = {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(SECRET, "0", GOOD)}
    assert reason(headers) == "invalid"


@pytest.mark.parametrize("offset", [-CLOCK_WINDOW_S, 0, CLOCK_WINDOW_S])
def test_timestamps_within_the_window_pass(offset: int) -> None:
    verify(SECRET, signed_headers(SECRET, GOOD, now=NOW + offset), GOOD, now=NOW)


@pytest.mark.parametrize("offset", [-CLOCK_WINDOW_S - 1, CLOCK_WINDOW_S + 1, -86400])
def test_timestamps_outside_the_window_are_stale(offset: int) -> None:
    assert reason(signed_headers(SECRET, GOOD, now=NOW + offset)) == "stale"


def test_the_error_never_carries_the_signature_or_secret() -> None:
    headers = signed_headers(SECRET, GOOD, now=NOW)
    wrong = {**headers, SIGNATURE_HEADER: "sha256=" + "f" * 64}
    with pytest.raises(SignatureError) as caught:
        verify(SECRET, wrong, GOOD, now=NOW)
    assert SECRET not in str(caught.value) and "f" * 64 not in str(caught.value)


def test_a_valid_body_is_parsed() -> None:
    assert parse_inbound(GOOD) == (InboundMessage("m1", "c1", "buyer_001", "在吗"), None)


def test_lone_surrogates_are_dropped_from_the_text_and_refused_in_ids() -> None:
    # JSON may escape half an emoji; UTF-8 (the worker's database) cannot hold it.
    raw = b'{"msg_id": "m1", "conversation_id": "c1", "buyer_id": "b", "text": "\\ud83d\\u5927"}'
    message, code = parse_inbound(raw)
    assert code is None and message == InboundMessage("m1", "c1", "b", "大")
    assert parse_inbound(message.to_json()) == (message, None)
    bad_id = b'{"msg_id": "m\\udc00", "conversation_id": "c1", "buyer_id": "b", "text": "t"}'
    assert parse_inbound(bad_id) == (None, "invalid_msg_id")


def test_ids_are_trimmed_and_text_kept_as_is() -> None:
    raw = body(msg_id=" m1 ", conversation_id="c1", buyer_id="b", text="  a\nb ")
    message, _ = parse_inbound(raw)
    assert message == InboundMessage("m1", "c1", "b", "  a\nb ")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{broken", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"", "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, "body_too_large"),
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),
        (b'"text"', "invalid_body"),
        (b"[]", "invalid_body"),
        (body(conversation_id="c", buyer_id="b", text="t"), "invalid_msg_id"),
        (body(msg_id="", conversation_id="c", buyer_id="b", text="t"), "invalid_msg_id"),
        (body(msg_id=7, conversation_id="c", buyer_id="b", text="t"), "invalid_msg_id"),
        (body(msg_id="m" * 129, conversation_id="c", buyer_id="b", text="t"), "invalid_msg_id"),
        (body(msg_id="m\n1", conversation_id="c", buyer_id="b", text="t"), "invalid_msg_id"),
        (body(msg_id="m", buyer_id="b", text="t"), "invalid_conversation_id"),
        (body(msg_id="m", conversation_id="c", buyer_id=None, text="t"), "invalid_buyer_id"),
        (body(msg_id="m", conversation_id="c", buyer_id="b"), "invalid_text"),
        (body(msg_id="m", conversation_id="c", buyer_id="b", text=["t"]), "invalid_text"),
        (b"x" * (MAX_BODY_BYTES + 1), "body_too_large"),
    ],
)
def test_bad_bodies_get_an_error_code(raw: bytes, code: str) -> None:
    assert parse_inbound(raw) == (None, code)


# -- properties (hypothesis) ---------------------------------------------------


def without_surrogates(text: str) -> str:
    return "".join(ch for ch in text if not 0xD800 <= ord(ch) <= 0xDFFF)


def check_parse(raw: bytes, value: Any) -> None:
    """``parse_inbound`` gives exactly what the protocol promises for ``raw``."""
    if len(raw) <= MAX_BODY_BYTES:
        # As the receiver reads it: two escaped surrogates may form one character.
        value = json.loads(raw)
    message, code = parse_inbound(raw)
    assert (message is None) != (code is None)
    expected = expected_problem(raw, value)
    assert code == expected
    if message is not None:
        assert message.text == without_surrogates(value["text"]) and message.rate_limit is None
        for name in ID_FIELDS:
            assert getattr(message, name) == value[name].strip()


@fuzz(400)
@given(raw=st.binary(max_size=400))
def test_any_bytes_get_a_message_or_a_documented_code(raw: bytes) -> None:
    message, code = parse_inbound(raw)
    assert (message is None) != (code is None)
    assert code is None or code in BODY_ERRORS


@fuzz(300)
@given(value=json_values)
def test_any_json_value_gets_the_promised_answer(value: Any) -> None:
    check_parse(encode(value), value)


@fuzz(400)
@given(value=wrong_type_messages)
def test_fields_of_any_type_get_the_promised_answer(value: Dict[str, Any]) -> None:
    check_parse(encode(value), value)


@fuzz(200)
@given(value=valid_messages)
def test_well_formed_messages_keep_their_text_empty_emoji_or_huge(value: Dict[str, str]) -> None:
    raw = encode(value)
    check_parse(raw, value)
    if len(raw) <= MAX_BODY_BYTES:
        message, _ = parse_inbound(raw)
        assert message is not None and parse_inbound(message.to_json()) == (message, None)


@fuzz(200)
@given(raw=st.binary(max_size=300), offset=st.integers(-CLOCK_WINDOW_S, CLOCK_WINDOW_S))
def test_a_body_signed_with_the_secret_within_the_window_verifies(raw: bytes, offset: int) -> None:
    verify(SECRET, signed_at(SECRET, raw, int(NOW) + offset), raw, now=NOW)


@fuzz(300)
@given(data=st.data(), raw=st.binary(max_size=300))
def test_bad_signatures_and_timestamps_are_refused_with_their_reason(
    data: st.DataObject, raw: bytes
) -> None:
    headers, code = data.draw(bad_signatures(SECRET, raw, int(NOW)))
    assert "signature_" + reason(dict(headers), raw=raw) == code


def test_message_round_trips_through_its_json() -> None:
    message = InboundMessage("m1", "c1", "b1", "衣服太大了")
    assert parse_inbound(message.to_json()) == (message, None)
    assert "rate_limit" not in json.loads(message.to_json())


@pytest.mark.parametrize("mark", RATE_MARKS)
def test_the_rate_limit_mark_is_read_only_when_asked(mark: str) -> None:
    marked = InboundMessage("m1", "c1", "b1", "在吗", rate_limit=mark)
    assert parse_inbound(marked.to_json(), marks=True) == (marked, None)
    assert parse_inbound(marked.to_json()) == (InboundMessage("m1", "c1", "b1", "在吗"), None)


@pytest.mark.parametrize("mark", ["", "NOTICE", 1, ["drop"], {"a": 1}])
def test_an_unknown_rate_limit_mark_is_refused(mark: Any) -> None:
    raw = body(msg_id="m", conversation_id="c", buyer_id="b", text="t", rate_limit=mark)
    assert parse_inbound(raw, marks=True) == (None, "invalid_rate_limit")
    assert parse_inbound(raw)[1] is None


def test_reply_body_has_the_documented_fields() -> None:
    reply = json.loads(reply_body("c1", "m1", [{"text": "您好"}]))
    assert reply == {"conversation_id": "c1", "reply_to": "m1", "messages": [{"text": "您好"}]}
