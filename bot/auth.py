"""Buyer and seller identity tokens (JWT, HS256).

A token carries ``sub`` (the buyer or seller id), ``role`` and ``exp``. The
Rasa-side ``shop`` channel verifies tokens with :func:`verify_token`; the
``shopbot token`` command mints them with :func:`mint_token`. Only the standard
library and PyJWT are used, so both Python environments share this module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

import jwt

ALGORITHM = "HS256"
#: Key of shopbot's entry in the metadata of a verified user message.
METADATA_KEY = "shopbot"
ROLES = ("buyer", "seller")
#: Longest subject accepted; ids are short, anything longer is not ours.
MAX_SUBJECT_LENGTH = 128


@dataclass(frozen=True)
class Identity:
    """Who a conversation belongs to.

    Attributes:
        subject: The buyer or seller id (``sub``).
        role: ``buyer`` or ``seller``.
    """

    subject: str
    role: str

    def as_metadata(self) -> Dict[str, Dict[str, str]]:
        """Return the metadata a channel attaches to this identity's messages."""
        return {METADATA_KEY: {"sub": self.subject, "role": self.role}}

    @classmethod
    def from_metadata(cls, metadata: Any) -> Optional[Identity]:
        """Read the identity a channel attached to a message, if any."""
        if not isinstance(metadata, dict):
            return None
        entry = metadata.get(METADATA_KEY)
        if not isinstance(entry, dict):
            return None
        subject, role = entry.get("sub"), entry.get("role")
        if isinstance(subject, str) and subject and role in ROLES:
            return cls(subject=subject, role=role)
        return None


class TokenError(Exception):
    """A token is missing, malformed, badly signed or expired.

    Attributes:
        reason: ``missing``, ``expired`` or ``invalid`` (safe to log).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def mint_token(
    secret: str,
    subject: str,
    role: str = "buyer",
    ttl_seconds: int = 3600,
    now: Optional[float] = None,
) -> str:
    """Sign a token for ``subject``.

    Args:
        secret: The signing secret.
        subject: Buyer or seller id.
        role: ``buyer`` or ``seller``.
        ttl_seconds: Lifetime in seconds (positive).
        now: Unix time to count from (tests); the current time by default.

    Returns:
        The encoded token.

    Raises:
        ValueError: The subject, role or lifetime is not acceptable.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if not subject or len(subject) > MAX_SUBJECT_LENGTH:
        raise ValueError("subject must be 1 to 128 characters")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    issued = int(time.time() if now is None else now)
    claims = {"sub": subject, "role": role, "iat": issued, "exp": issued + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def bearer_token(header_value: Optional[str]) -> str:
    """Extract the token from an ``Authorization: Bearer <token>`` header.

    Raises:
        TokenError: The header is absent or not a bearer header.
    """
    if not header_value:
        raise TokenError("missing")
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("missing")
    return token.strip()


def verify_token(secret: str, token: str, now: Optional[float] = None) -> Identity:
    """Check a token's signature and expiry and return its identity.

    Args:
        secret: The signing secret.
        token: The encoded token.
        now: Unix time to check expiry against (tests).

    Returns:
        The identity in the token.

    Raises:
        TokenError: The token is expired, malformed or badly signed, or its
            claims are not those of a shopbot token.
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp"], "verify_exp": now is None},
        )
        if now is not None and float(claims["exp"]) < now:
            raise TokenError("expired")
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("expired") from exc
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise TokenError("invalid") from exc
    subject = claims.get("sub")
    role = claims.get("role", "buyer")
    if (
        not isinstance(subject, str)
        or not subject
        or len(subject) > MAX_SUBJECT_LENGTH
        or role not in ROLES
    ):
        raise TokenError("invalid")
    return Identity(subject=subject, role=role)
