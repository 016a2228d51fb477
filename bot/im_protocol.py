"""The store IM platform's wire protocol: signed requests and message bodies.

Every request between the platform and shopbot, both ways, carries

* ``X-Shop-Timestamp``: unix seconds when it was sent, and
* ``X-Shop-Signature``: ``sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">``
  keyed with ``SHOPBOT_IM_SECRET``.

A request whose timestamp is more than :data:`CLOCK_WINDOW_S` away from the
receiver's clock is refused, so a captured request cannot be replayed later.
Signatures are compared in constant time.

An inbound message is ``{"msg_id", "conversation_id", "buyer_id", "text"}``;
a reply is ``{"conversation_id", "reply_to", "messages": [...]}``. See
``shared/spec/interfaces.md``. Between shopbot's own processes (the channel's
hand-over to the IM worker, the worker's call back to the channel) a message
may also carry ``"rate_limit"``: :data:`RATE_NOTICE` or :data:`RATE_DROP`,
set by the channel for a message over its buyer's rate limit; it is never
read from the platform's body.

Only the standard library (and :mod:`bot.messages`, standard library only) is
used and the syntax is that of Python 3.10, so the Rasa-side channel shares
this module with the delivery worker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from bot.messages import drop_surrogates

TIMESTAMP_HEADER = "X-Shop-Timestamp"
SIGNATURE_HEADER = "X-Shop-Signature"
SIGNATURE_PREFIX = "sha256="
#: Largest clock difference accepted between sender and receiver, in seconds.
CLOCK_WINDOW_S = 300
#: Largest request body read, in bytes (a 2,000-character message is ~6 kB).
MAX_BODY_BYTES = 64 * 1024
#: Longest ``msg_id``, ``conversation_id`` and ``buyer_id`` accepted.
MAX_ID_LENGTH = 128
#: Rasa sender ids of IM conversations start with this (``im:<conversation_id>``);
#: the ``shop`` channel refuses them, so the two channels never share one.
IM_SENDER_PREFIX = "im:"
#: Rate-limit mark: over the limit, answer with the rate-limit notice (not the bot).
RATE_NOTICE = "notice"
#: Rate-limit mark: over the limit, keep for de-duplication and never answer.
RATE_DROP = "drop"
#: The marks a message may carry between shopbot's processes.
RATE_MARKS = (RATE_NOTICE, RATE_DROP)


class SignatureError(Exception):
    """A request is unsigned, badly signed or outside the clock window.

    Attributes:
        reason: ``missing``, ``stale`` or ``invalid`` (safe to log: it never
            contains the signature or the secret).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the ``X-Shop-Signature`` value of a request.

    Args:
        secret: The shared secret (``SHOPBOT_IM_SECRET``).
        timestamp: The ``X-Shop-Timestamp`` value, as sent.
        body: The raw request body.

    Returns:
        ``sha256=`` and the lower-case hex digest.
    """
    digest = hmac.new(
        secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256
    ).hexdigest()
    return SIGNATURE_PREFIX + digest


def signed_headers(secret: str, body: bytes, now: Optional[float] = None) -> Dict[str, str]:
    """Return the headers that sign ``body`` (JSON content type included).

    Args:
        secret: The shared secret.
        body: The raw body about to be sent.
        now: Unix time to stamp (tests); the current time by default.
    """
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    """Read a header case-insensitively from any mapping."""
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value.strip() if isinstance(value, str) else None


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: Optional[float] = None,
    window_s: int = CLOCK_WINDOW_S,
) -> None:
    """Check a request's signature and timestamp.

    Args:
        secret: The shared secret.
        headers: The request headers (any mapping; names looked up as sent
            and in lower case).
        body: The raw request body.
        now: Unix time to check the clock window against (tests).
        window_s: Largest accepted difference between the clocks.

    Raises:
        SignatureError: A header is missing, the timestamp is not an integer
            or too far off, or the signature does not match.
    """
    timestamp = _header(headers, TIMESTAMP_HEADER)
    given = _header(headers, SIGNATURE_HEADER)
    if not timestamp or not given:
        raise SignatureError("missing")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureError("invalid")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > window_s:
        raise SignatureError("stale")
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
        raise SignatureError("invalid")


@dataclass(frozen=True)
class InboundMessage:
    """One buyer message from the IM platform.

    Attributes:
        msg_id: The platform's id of the message (unique; retries repeat it).
        conversation_id: The platform's conversation.
        buyer_id: The buyer who wrote it (the conversation's identity).
        text: What the buyer wrote (unbounded here; channels clip it), valid
            Unicode: lone surrogates of the JSON body are dropped.
        rate_limit: None, or :data:`RATE_NOTICE` / :data:`RATE_DROP` when the
            channel found the buyer over the rate limit (set by shopbot only).
    """

    msg_id: str
    conversation_id: str
    buyer_id: str
    text: str
    rate_limit: Optional[str] = None

    def to_json(self) -> bytes:
        """Return the message as the JSON body of the protocol (no mark when None)."""
        data = asdict(self)
        if self.rate_limit is None:
            del data["rate_limit"]
        return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _id_field(body: Mapping[str, Any], name: str) -> Optional[str]:
    value = body.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        return None
    return value


def parse_inbound(
    raw: bytes, marks: bool = False
) -> Tuple[Optional[InboundMessage], Optional[str]]:
    """Validate an inbound message body.

    Args:
        raw: The request body.
        marks: Read the ``rate_limit`` mark too: only for bodies shopbot's own
            processes sent (the platform's ``rate_limit``, if any, is ignored).

    Returns:
        ``(message, None)`` when valid, else ``(None, error_code)`` with a
        code such as ``invalid_json``, ``invalid_msg_id`` or
        ``invalid_rate_limit``.
    """
    if len(raw) > MAX_BODY_BYTES:
        return None, "body_too_large"
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, "invalid_json"
    if not isinstance(body, dict):
        return None, "invalid_body"
    ids: Dict[str, str] = {}
    for name in ("msg_id", "conversation_id", "buyer_id"):
        value = _id_field(body, name)
        if value is None:
            return None, f"invalid_{name}"
        ids[name] = value
    text = body.get("text")
    if not isinstance(text, str):
        return None, "invalid_text"
    mark = body.get("rate_limit") if marks else None
    if mark is not None and mark not in RATE_MARKS:
        return None, "invalid_rate_limit"
    # JSON may escape lone surrogates (half an emoji); UTF-8 cannot carry them.
    return InboundMessage(text=drop_surrogates(text), rate_limit=mark, **ids), None


def reply_body(
    conversation_id: str, reply_to: Optional[str], messages: List[Dict[str, Any]]
) -> bytes:
    """Return the JSON body of a reply delivered to the platform.

    Args:
        conversation_id: The platform's conversation.
        reply_to: The ``msg_id`` the messages answer; None for messages that
            answer no particular one (a human agent's).
        messages: The bot's messages (``text``, ``buttons``, ``custom``).
    """
    payload = {"conversation_id": conversation_id, "reply_to": reply_to, "messages": messages}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def sender_id(conversation_id: str) -> str:
    """Return the Rasa conversation (sender id) of a platform conversation."""
    return IM_SENDER_PREFIX + conversation_id


def platform_conversation(sender: str) -> Optional[str]:
    """Return the platform's conversation of a Rasa sender id, None if not an IM one."""
    if not sender.startswith(IM_SENDER_PREFIX) or len(sender) == len(IM_SENDER_PREFIX):
        return None
    return sender[len(IM_SENDER_PREFIX) :]


__all__ = [
    "CLOCK_WINDOW_S",
    "IM_SENDER_PREFIX",
    "MAX_BODY_BYTES",
    "RATE_DROP",
    "RATE_MARKS",
    "RATE_NOTICE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "InboundMessage",
    "SignatureError",
    "parse_inbound",
    "platform_conversation",
    "reply_body",
    "sender_id",
    "signature",
    "signed_headers",
    "verify",
]
