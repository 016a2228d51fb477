"""Tests of bot/auth.py: minting and verifying identity tokens."""

from __future__ import annotations

import jwt
import pytest

from bot.auth import Identity, TokenError, bearer_token, mint_token, verify_token

SECRET = "test-secret"


def test_round_trip_keeps_subject_and_role() -> None:
    token = mint_token(SECRET, "buyer_001", role="buyer", ttl_seconds=60)
    assert verify_token(SECRET, token) == Identity("buyer_001", "buyer")


def test_seller_role_round_trips() -> None:
    token = mint_token(SECRET, "shop_01", role="seller")
    assert verify_token(SECRET, token).role == "seller"


def test_expired_token_is_refused() -> None:
    token = mint_token(SECRET, "buyer_001", ttl_seconds=10, now=1_000_000)
    with pytest.raises(TokenError) as caught:
        verify_token(SECRET, token)
    assert caught.value.reason == "expired"


def test_expiry_is_checked_against_the_given_clock() -> None:
    token = mint_token(SECRET, "buyer_001", ttl_seconds=10, now=1_000_000)
    assert verify_token(SECRET, token, now=1_000_005).subject == "buyer_001"
    with pytest.raises(TokenError):
        verify_token(SECRET, token, now=1_000_011)


def test_wrong_secret_is_refused() -> None:
    token = mint_token("other-secret", "buyer_001")
    with pytest.raises(TokenError) as caught:
        verify_token(SECRET, token)
    assert caught.value.reason == "invalid"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "😀" * 10, "x" * 5000])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(TokenError):
        verify_token(SECRET, token)


def test_none_algorithm_is_refused() -> None:
    token = jwt.encode({"sub": "buyer_001", "exp": 4_000_000_000}, key=None, algorithm="none")
    with pytest.raises(TokenError):
        verify_token(SECRET, token)


def test_unknown_role_is_refused() -> None:
    token = jwt.encode(
        {"sub": "buyer_001", "role": "admin", "exp": 4_000_000_000}, SECRET, algorithm="HS256"
    )
    with pytest.raises(TokenError):
        verify_token(SECRET, token)


def test_token_without_expiry_is_refused() -> None:
    token = jwt.encode({"sub": "buyer_001", "role": "buyer"}, SECRET, algorithm="HS256")
    with pytest.raises(TokenError):
        verify_token(SECRET, token)


@pytest.mark.parametrize(
    ("subject", "role", "ttl"), [("", "buyer", 60), ("b", "admin", 60), ("b", "buyer", 0)]
)
def test_mint_rejects_bad_arguments(subject: str, role: str, ttl: int) -> None:
    with pytest.raises(ValueError):
        mint_token(SECRET, subject, role=role, ttl_seconds=ttl)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   "])
def test_bearer_header_must_carry_a_token(header: str | None) -> None:
    with pytest.raises(TokenError) as caught:
        bearer_token(header)
    assert caught.value.reason == "missing"


def test_bearer_header_is_parsed() -> None:
    assert bearer_token("Bearer abc.def") == "abc.def"


def test_metadata_round_trip() -> None:
    who = Identity("buyer_002", "buyer")
    assert Identity.from_metadata(who.as_metadata()) == who


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        "x",
        {},
        {"shopbot": "x"},
        {"shopbot": {"sub": "", "role": "buyer"}},
        {"shopbot": {"sub": "b", "role": "root"}},
    ],
)
def test_metadata_without_identity(metadata: object) -> None:
    assert Identity.from_metadata(metadata) is None
