"""Hypothesis strategies of ``shop`` channel requests, and the answers the
channel promises for them (``shopbot_rasa/channels/shop.py``, README "shop channel").

Shared by the properties of the webhook (tests/rasa/test_shop_channel.py) and
of the history route (tests/rasa/test_shop_handoff.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import jwt
from hypothesis import strategies as st

from bot.auth import ROLES, Identity, mint_token
from shopbot_rasa.channels.identity import MAX_SENDER_LENGTH
from shopbot_rasa.channels.shop import MAX_BODY_BYTES
from tests.strategies import any_text, header_values, huge_text, json_values, texts

#: Subjects of the tokens: few, so that conversations collide across identities.
SUBJECTS = ("buyer_001", "buyer_002", "shop_01", "张三")
IDENTITIES = tuple(Identity(subject, role) for subject in SUBJECTS for role in ROLES)
#: Conversation ids: a few shared ones, odd ones, and anything.
SENDERS = ("web-1", "web-2", " web-1 ", "im:c1", "", "  ", "x" * 129, "会话\x00", "a\ud800", "😀")
senders = st.sampled_from(SENDERS) | any_text | st.text(max_size=MAX_SENDER_LENGTH + 2)


@dataclass(frozen=True)
class Auth:
    """An ``Authorization`` header and what the channel must make of it.

    Attributes:
        header: The header's value; None: no header.
        identity: The verified identity, when the token is good.
        error: ``token_missing``, ``token_invalid`` or ``token_expired`` otherwise.
    """

    header: Optional[str]
    identity: Optional[Identity] = None
    error: Optional[str] = None


@st.composite
def authorizations(draw: st.DrawFn, secret: str) -> Auth:
    """Draw a good token of one of :data:`IDENTITIES`, or a bad header of one of seven kinds."""
    kind = draw(
        st.sampled_from(
            ["good", "good", "good", "missing", "garbage", "scheme", "secret", "expired", "claims"]
        )
    )
    identity = draw(st.sampled_from(IDENTITIES))
    if kind == "good":
        token = mint_token(secret, identity.subject, identity.role, ttl_seconds=600)
        scheme = draw(st.sampled_from(["Bearer", "bearer", "BEARER"]))
        return Auth(f"{scheme} {token}", identity=identity)
    if kind == "missing":
        return Auth(draw(st.sampled_from([None, "", "Bearer", "Bearer "])), error="token_missing")
    if kind == "garbage":
        return Auth("Bearer " + draw(header_values.filter(str.strip)), error="token_invalid")
    if kind == "scheme":
        value = draw(header_values.filter(lambda v: not v.lower().startswith("bearer ")))
        return Auth(value or None, error="token_missing")
    if kind == "secret":
        token = mint_token(secret + "-not", identity.subject, identity.role, ttl_seconds=600)
        return Auth(f"Bearer {token}", error="token_invalid")
    if kind == "expired":
        token = mint_token(secret, identity.subject, ttl_seconds=10, now=time.time() - 3600)
        return Auth(f"Bearer {token}", error="token_expired")
    claims = draw(
        st.sampled_from(
            [
                {"sub": 5},
                {"sub": ""},
                {"sub": "x" * 129},
                {"sub": "buyer_001", "role": "admin"},
                {"role": "buyer"},
            ]
        )
    )
    token = jwt.encode({"exp": int(time.time()) + 600, **claims}, secret, algorithm="HS256")
    return Auth(f"Bearer {token}", error="token_invalid")


#: ``Origin`` headers: none (a server), the shop's (any case, a trailing
#: slash), or anything else.
def origins(allowed: str) -> st.SearchStrategy[Optional[str]]:
    """Draw an ``Origin`` header value for a channel that allows ``allowed``."""
    return st.one_of(
        st.none(),
        st.sampled_from([allowed, allowed.upper() + "/", "https://evil.example", "null"]),
        header_values,
    )


def origin_allowed(origin: Optional[str], allowed: str) -> bool:
    """Whether a browser from ``origin`` may call (as the server reads the header)."""
    if origin is None:
        return True
    return origin.isascii() and origin.strip().rstrip("/").lower() == allowed


#: Webhook bodies: well-formed ones with any sender and message, fields of
#: any type, any JSON, broken and huge ones.
shop_bodies = st.one_of(
    st.fixed_dictionaries(
        {"sender": senders},
        optional={"message": texts | st.none(), "metadata": json_values, "extra": json_values},
    ),
    st.fixed_dictionaries({"sender": st.sampled_from(["web-1", "web-2"]), "message": texts}),
    st.dictionaries(
        st.sampled_from(["sender", "message", "metadata"]), json_values | huge_text, max_size=3
    ),
    json_values,
)


def expected_sender(raw: Any) -> Optional[str]:
    """Return the conversation id the channel accepts for ``raw``, or None.

    1 to 128 printable characters once trimmed, and not in the ``im``
    channel's namespace.
    """
    if not isinstance(raw, str):
        return None
    sender = raw.strip()
    if not 1 <= len(sender) <= MAX_SENDER_LENGTH or sender.startswith("im:"):
        return None
    return sender if sender.isprintable() else None


def expected_body(raw: bytes) -> Tuple[Optional[Tuple[str, str]], Optional[str]]:
    """Return ``((sender, raw message), None)`` or ``(None, error code)`` for a webhook body."""
    if len(raw) > MAX_BODY_BYTES:
        return None, "body_too_large"
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, "invalid_json"
    if not isinstance(value, dict):
        return None, "invalid_body"
    sender = expected_sender(value.get("sender"))
    if sender is None:
        return None, "invalid_sender"
    message = value.get("message")
    if message is not None and not isinstance(message, str):
        return None, "invalid_message"
    return (sender, message or ""), None
