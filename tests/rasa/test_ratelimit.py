"""Tests of the per-identity rate limit of the chat channels."""

from __future__ import annotations

from typing import List

import pytest

from shopbot_rasa.channels.ratelimit import NoticeGate, RateLimiter, retry_after_header


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_limit_passes_and_the_next_waits() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 60, clock=clock)
    assert [limiter.acquire("buyer:a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("buyer:a")
    assert wait == pytest.approx(20.0)  # one message per 20 s refills


def test_identities_have_their_own_buckets() -> None:
    limiter = RateLimiter(1, 60, clock=Clock())
    assert limiter.acquire("buyer:a") == 0.0
    assert limiter.acquire("buyer:a") > 0
    assert limiter.acquire("buyer:b") == 0.0
    assert limiter.acquire("seller:a") == 0.0


def test_the_bucket_refills_with_time_but_not_beyond_the_limit() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 10, clock=clock)
    limiter.acquire("k")
    limiter.acquire("k")
    assert limiter.acquire("k") > 0
    clock.now += 5.0  # one message refilled
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("k") > 0
    clock.now += 3600.0  # a long pause refills to the limit only
    results: List[float] = [limiter.acquire("k") for _ in range(3)]
    assert results[:2] == [0.0, 0.0] and results[2] > 0


def test_refused_messages_do_not_push_the_wait_further() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 10, clock=clock)
    limiter.acquire("k")
    first = limiter.acquire("k")
    second = limiter.acquire("k")
    assert first == pytest.approx(second)


def test_zero_disables_the_limit() -> None:
    limiter = RateLimiter(0, 60, clock=Clock())
    assert not limiter.enabled
    assert all(limiter.acquire("k") == 0.0 for _ in range(1000))


def test_memory_is_bounded_and_forgetting_only_loosens_the_limit() -> None:
    limiter = RateLimiter(1, 60, clock=Clock(), max_keys=2)
    limiter.acquire("a")
    limiter.acquire("b")
    limiter.acquire("c")  # "a" is forgotten
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("c") > 0


@pytest.mark.parametrize(("wait", "header"), [(0.2, "1"), (1.0, "1"), (19.01, "20")])
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header


def test_a_notice_is_given_once_per_window_and_key() -> None:
    clock = Clock()
    gate = NoticeGate(60, clock=clock)
    assert gate.take("buyer:a") is True
    assert [gate.take("buyer:a") for _ in range(5)] == [False] * 5
    assert gate.take("buyer:b") is True
    clock.now += 59.9
    assert gate.take("buyer:a") is False
    clock.now += 0.1
    assert gate.take("buyer:a") is True


def test_a_notice_given_back_may_be_taken_again() -> None:
    gate = NoticeGate(60, clock=Clock())
    assert gate.take("k") is True
    gate.give_back("k")
    assert gate.take("k") is True
    assert gate.take("k") is False
    gate.give_back("never-taken")  # harmless


def test_notice_memory_is_bounded() -> None:
    gate = NoticeGate(60, clock=Clock(), max_keys=2)
    assert gate.take("a") and gate.take("b") and gate.take("c")  # "a" is forgotten
    assert gate.take("a") is True
    assert gate.take("c") is False
