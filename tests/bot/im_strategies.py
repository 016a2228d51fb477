"""Hypothesis strategies of IM request bodies and headers, and the answers the
protocol promises for them (``bot/im_protocol.py``, README "IM channel").

Shared by the property tests of the protocol, the IM worker's hand-over and
the real webhook (tests/e2e/test_im_channel.py).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from hypothesis import strategies as st

from bot.im_protocol import (
    CLOCK_WINDOW_S,
    MAX_BODY_BYTES,
    MAX_ID_LENGTH,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)
from tests.strategies import HEADER_CHARACTERS, json_values, texts

#: The fields of an inbound message, in the order they are checked.
ID_FIELDS = ("msg_id", "conversation_id", "buyer_id")
FIELDS = (*ID_FIELDS, "text")
#: Every error code of a malformed body (README, "IM channel").
BODY_ERRORS = frozenset(
    {f"invalid_{name}" for name in FIELDS} | {"invalid_json", "invalid_body", "body_too_large"}
)
SIGNATURE_ERRORS = frozenset({"signature_missing", "signature_invalid", "signature_stale"})

#: Ids the protocol accepts: 1-128 printable characters, no surrounding space.
valid_ids = st.text(
    alphabet=st.characters(categories=("L", "M", "N", "P", "S")), min_size=1, max_size=MAX_ID_LENGTH
)

#: Ids whose characters every supported Python calls printable: the channel
#: (Python 3.10, Unicode 13) refuses characters Unicode 14 added, which the
#: worker's Python 3.11 accepts. Latin, Greek/Cyrillic and CJK (GB 2312 era).
portable_ids = st.text(
    alphabet=st.characters(categories=("L", "M", "N", "P", "S"), max_codepoint=0x4FF)
    | st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
    min_size=1,
    max_size=MAX_ID_LENGTH,
)

#: Well-formed messages (their text may still make the body too large).
valid_messages = st.fixed_dictionaries(
    {"msg_id": valid_ids, "conversation_id": valid_ids, "buyer_id": valid_ids, "text": texts}
)

#: Objects with the message's field names (and others) holding any JSON value.
wrong_type_messages = st.dictionaries(
    st.sampled_from([*FIELDS, "rate_limit", "extra"]),
    json_values | valid_ids | texts,
    max_size=6,
)


def expected_problem(raw: bytes, value: Any) -> Optional[str]:
    """Return the error code the protocol promises for ``raw`` (``value`` decoded), or None."""
    if len(raw) > MAX_BODY_BYTES:
        return "body_too_large"
    if not isinstance(value, dict):
        return "invalid_body"
    for name in ID_FIELDS:
        field = value.get(name)
        stripped = field.strip() if isinstance(field, str) else ""
        if not (1 <= len(stripped) <= MAX_ID_LENGTH and stripped.isprintable()):
            return f"invalid_{name}"
    if not isinstance(value.get("text"), str):
        return "invalid_text"
    return None


def signed_at(secret: str, body: bytes, timestamp: int) -> Dict[str, str]:
    """Return headers signing ``body`` with ``secret`` at unix time ``timestamp``."""
    stamp = str(timestamp)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature(secret, stamp, body),
    }


@st.composite
def bad_signatures(
    draw: st.DrawFn, secret: str, body: bytes, now: int
) -> Tuple[Mapping[str, str], str]:
    """Draw headers that must not authenticate ``body``, and the expected error code.

    Kinds: a header missing, another secret, a timestamp outside the clock
    window, a malformed timestamp, a random signature, the signature of
    another body.
    """
    good = signed_at(secret, body, now)
    kind = draw(st.sampled_from(["missing", "secret", "stale", "stamp", "random", "other_body"]))
    if kind == "missing":
        dropped = draw(st.sampled_from([(TIMESTAMP_HEADER,), (SIGNATURE_HEADER,), ("both",)]))
        names = (TIMESTAMP_HEADER, SIGNATURE_HEADER) if dropped == ("both",) else dropped
        return {k: v for k, v in good.items() if k not in names}, "signature_missing"
    if kind == "secret":
        other = draw(st.text(min_size=1, max_size=40).filter(lambda s: s != secret))
        return signed_at(other, body, now), "signature_invalid"
    if kind == "stale":
        offset = draw(st.integers(CLOCK_WINDOW_S + 100, 10**8))
        sign = draw(st.sampled_from([-1, 1]))
        return signed_at(secret, body, max(0, now + sign * offset)), "signature_stale"
    if kind == "stamp":
        stamp = draw(
            st.text(alphabet=HEADER_CHARACTERS, min_size=1)
            .map(str.strip)
            .filter(lambda s: s != "" and not (s.isdigit() and len(s) <= 12))
        )
        return {**good, TIMESTAMP_HEADER: stamp}, "signature_invalid"
    if kind == "random":
        given = draw(
            st.text(alphabet=HEADER_CHARACTERS, min_size=1)
            .map(str.strip)
            .filter(lambda s: s != "" and s != good[SIGNATURE_HEADER])
        )
        return {**good, SIGNATURE_HEADER: given}, "signature_invalid"
    other_body = draw(st.binary(max_size=64).filter(lambda b: b != body))
    return {**good, SIGNATURE_HEADER: signature(secret, str(now), other_body)}, "signature_invalid"
