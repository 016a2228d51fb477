"""Tests of bot/devtools.py helpers used by the benchmarks and end-to-end tests."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest

from bot.devtools import FakeImPlatform, free_port, latency_summary, percentile
from bot.im_protocol import reply_body, signed_headers

SECRET = "devtools-im-secret"


def test_latency_summary_rounds_the_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert latency_summary(values) == {"median_ms": 50.5, "p95_ms": 95.0, "p99_ms": 99.0}
    assert percentile([3.0], 0.99) == 3.0


@pytest.fixture()
def platform() -> Iterator[FakeImPlatform]:
    fake = FakeImPlatform(free_port(), SECRET).start(reject=1)
    yield fake
    fake.stop()


def deliver(platform: FakeImPlatform, reply_to: str, secret: str = SECRET) -> int:
    body = reply_body("c1", reply_to, [{"text": "您好"}])
    return httpx.post(platform.url, content=body, headers=signed_headers(secret, body)).status_code


def test_the_fake_platform_checks_refuses_then_records_deliveries(
    platform: FakeImPlatform,
) -> None:
    assert deliver(platform, "m1", secret="wrong") == 401
    assert deliver(platform, "m1") == 503  # the first one is refused
    assert platform.wait_for("m1", 0.01) is None
    assert deliver(platform, "m1") == 200
    assert deliver(platform, "m2") == 200
    assert platform.wait_for("m1", 1) is not None
    assert platform.replies_to("c1") == ["m1", "m2"]
    assert (platform.refused, platform.badly_signed) == (1, 1)
    platform.stop()
    with pytest.raises(httpx.ConnectError):
        deliver(platform, "m3")
