"""Benchmark of the store IM channel: webhook acknowledgement and reply latency.

Starts the real action server, Rasa server and IM worker on the demo database
with a local fake IM platform (its callback endpoint), then sends N signed
buyer messages ("在吗", answered by a rule and a response) one at a time and
measures for each:

* the webhook's acknowledgement: ``POST /webhooks/im/webhook`` until its 200
  (verify, clip, hand-over to the worker, which commits it to the inbox);
* end to end: from that POST until the reply reached the platform's callback
  (the worker asks Rasa, stores the reply in the outbox, delivers it signed).

In the same run, alternating with the IM messages, it times N bare Rasa turns
of the same message on the ``shop`` channel (as ``make bench`` does) and
prints the ratios. It asserts nothing. Run with ``make bench-im`` (``N=``
messages, default 100).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, List, Tuple

import httpx

from bot.auth import mint_token
from bot.devtools import (
    FakeImPlatform,
    Stack,
    bench_arguments,
    free_port,
    latency_summary,
    shop_turns,
)
from bot.im_protocol import InboundMessage, signed_headers

SECRET = "bench-secret-not-for-production-0123456789"  # noqa: S105 - local benchmark
IM_SECRET = "bench-im-secret-not-for-production-0123"  # noqa: S105 - local benchmark
TEXT = "在吗"
#: Seconds one reply may take to reach the platform before the run fails.
REPLY_TIMEOUT_S = 60.0


def im_message(
    client: httpx.Client, url: str, platform: FakeImPlatform, conversation: str
) -> Tuple[float, float]:
    """Send one signed message and wait for its reply; return (ack ms, end-to-end ms)."""
    message = InboundMessage(f"bench-{uuid.uuid4().hex}", conversation, "buyer_001", TEXT)
    body = message.to_json()
    started = time.perf_counter()
    reply = client.post(
        f"{url}/webhooks/im/webhook", content=body, headers=signed_headers(IM_SECRET, body)
    )
    acknowledged = time.perf_counter()
    if reply.status_code != 200 or reply.json() != {"status": "accepted"}:
        raise RuntimeError(f"the webhook answered {reply.status_code}: {reply.text}")
    arrived = platform.wait_for(message.msg_id, REPLY_TIMEOUT_S)
    if arrived is None:
        raise RuntimeError(f"no reply to {message.msg_id} within {REPLY_TIMEOUT_S} s")
    return (acknowledged - started) * 1000, (arrived - started) * 1000


def measure(
    client: httpx.Client, stack: Stack, platform: FakeImPlatform, n: int, prefix: str
) -> Dict[str, List[float]]:
    """Alternate ``n`` IM messages and ``n`` bare shop turns; return their latencies in ms."""
    token = mint_token(SECRET, "buyer_001", ttl_seconds=3600)
    times: Dict[str, List[float]] = {"ack": [], "end_to_end": [], "bare": []}
    for index in range(n):
        ack, end_to_end = im_message(client, stack.url, platform, f"{prefix}-{index // 10}")
        times["ack"].append(ack)
        times["end_to_end"].append(end_to_end)
        times["bare"].extend(shop_turns(client, stack.url, token, TEXT, 1))
    return times


def main() -> int:
    """Run the benchmark and print its figures; return an exit code."""
    args = bench_arguments(__doc__ or "", 100, "IM messages (and bare turns)", "bench_im.json")
    work = Path(tempfile.mkdtemp(prefix="shopbot-bim-"))
    platform = FakeImPlatform(free_port(), IM_SECRET)
    stack = Stack.demo(args.model.resolve(), work, SECRET)
    stack.env = {
        **stack.env,
        "SHOPBOT_IM_SECRET": IM_SECRET,
        "SHOPBOT_IM_CALLBACK_URL": platform.url,
        # Hundreds of messages of one buyer: the per-buyer rate limit would stop them.
        "SHOPBOT_RATE_LIMIT": "off",
    }
    platform.start()
    stack.start()
    try:
        with httpx.Client(timeout=60) as client:
            measure(client, stack, platform, 10, "warm-up")
            times = measure(client, stack, platform, args.n, "im-bench")
    finally:
        stack.stop()
        platform.stop()
    bare_median = statistics.median(times["bare"])
    result = {
        "messages": args.n,
        "webhook_ack": latency_summary(times["ack"]),
        "end_to_end_reply": latency_summary(times["end_to_end"]),
        "bare_rasa_turn": latency_summary(times["bare"]),
        "ratio_median_ack_to_bare": round(statistics.median(times["ack"]) / bare_median, 2),
        "ratio_median_end_to_end_to_bare": round(
            statistics.median(times["end_to_end"]) / bare_median, 2
        ),
        "deliveries_refused_or_badly_signed": platform.refused + platform.badly_signed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"IM messages: {args.n} ({TEXT!r}, one at a time, alternating with bare shop turns)")
    for kind in ("webhook_ack", "end_to_end_reply", "bare_rasa_turn"):
        figures = result[kind]
        print(
            f"{kind:17} median {figures['median_ms']:7.2f} ms   p95 {figures['p95_ms']:7.2f} ms"
            f"   p99 {figures['p99_ms']:7.2f} ms"
        )
    print(
        f"median ratios to the bare turn: ack {result['ratio_median_ack_to_bare']},"
        f" end to end {result['ratio_median_end_to_end_to_bare']}"
    )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
