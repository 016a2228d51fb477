"""Per-identity rate limit of the chat channels.

A token bucket per key (``role:subject``): ``limit`` messages at once, refilled
at ``limit / window_s`` messages per second. The buckets live in the process
(one Rasa server); the least recently used ones are forgotten beyond
``max_keys``, which only ever makes the limit more lenient.

:class:`NoticeGate` lets a channel that answers asynchronously (``im``) tell a
buyer about the limit once per window instead of once per refused message.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Callable, Tuple


class RateLimiter:
    """Token buckets keyed by identity.

    Args:
        limit: Messages allowed in one burst and per window; 0 disables.
        window_s: Seconds in which ``limit`` messages are refilled.
        clock: Monotonic clock in seconds (tests inject one).
        max_keys: How many identities are remembered at most.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._limit = limit
        self._rate = limit / window_s if limit > 0 else 0.0
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, Tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """Whether any limit applies."""
        return self._limit > 0

    def acquire(self, key: str) -> float:
        """Take one message from ``key``'s bucket.

        Args:
            key: The identity, e.g. ``buyer:buyer_001``.

        Returns:
            0.0 when the message may pass, else the seconds until it would.
        """
        if not self.enabled:
            return 0.0
        now = self._clock()
        tokens, last = self._buckets.get(key, (float(self._limit), now))
        tokens = min(float(self._limit), tokens + (now - last) * self._rate)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self._rate

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)


class NoticeGate:
    """At most one notice per key and window.

    Args:
        window_s: Seconds after a notice during which the key gets no other.
        clock: Monotonic clock in seconds (tests inject one).
        max_keys: How many keys are remembered at most (forgetting one only
            allows an earlier notice).
    """

    def __init__(
        self, window_s: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self._window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._given: OrderedDict[str, float] = OrderedDict()

    def take(self, key: str) -> bool:
        """Return True, and remember it, when ``key`` may get a notice now."""
        now = self._clock()
        last = self._given.get(key)
        if last is not None and now - last < self._window_s:
            return False
        self._given[key] = now
        self._given.move_to_end(key)
        while len(self._given) > self._max_keys:
            self._given.popitem(last=False)
        return True

    def give_back(self, key: str) -> None:
        """Undo the last :meth:`take` of ``key`` (its notice was not sent)."""
        self._given.pop(key, None)


def retry_after_header(wait_s: float) -> str:
    """Return a ``Retry-After`` value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(wait_s)))
