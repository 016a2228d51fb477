"""Benchmark of the agent assistant: latency of ``POST /assist/suggest``.

Starts the real action server, Rasa server (HTTP API on, token-protected) and
the assistant on the demo database, then sends N suggest requests one after
the other (buyer messages of several intents, with and without an order id)
and times each round trip: NLU parse through Rasa, order look-up and rule
decisions, templates. It prints the median and 99th percentile and asserts
nothing. Run with ``make bench-assist`` (``N=`` requests, default 200).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import List

import httpx

from bot.devtools import Stack, bench_arguments, percentile

SECRET = "bench-secret-not-for-production-0123456789"  # noqa: S105 - local benchmark
AGENT_TOKEN = "bench-agent-token-0123456789"  # noqa: S105 - local benchmark
#: (message, order id) pairs the requests cycle through.
REQUESTS = (
    ("衣服太大了能换吗", "2026111000001"),
    ("收到的东西坏了怎么办", "2026111000001"),
    ("退货运费谁出", None),
    ("快递到哪了", "2026111000001"),
    ("过了半个月还能退吗", "2026100300002"),
    ("你好", None),
)


def latencies(url: str, n: int) -> List[float]:
    """Send ``n`` suggest requests; return each round trip in ms."""
    times = []
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for index in range(n):
            message, order_id = REQUESTS[index % len(REQUESTS)]
            body = {
                "conversation_id": f"bench-{index}",
                "buyer_id": "buyer_001",
                "message": message,
            }
            if order_id:
                body["order_id"] = order_id
            started = time.perf_counter()
            reply = client.post("/assist/suggest", json=body)
            times.append((time.perf_counter() - started) * 1000)
            reply.raise_for_status()
    return times


def main() -> int:
    """Run the benchmark and print its figures; return an exit code."""
    args = bench_arguments(
        __doc__ or "", 200, "suggest requests (after 20 warm-up)", "bench_assist.json"
    )
    stack = Stack.demo(args.model.resolve(), Path(tempfile.mkdtemp(prefix="shopbot-ba-")), SECRET)
    stack.start()
    try:
        stack.start_assist(AGENT_TOKEN)
        latencies(stack.assist_url, 20)  # warm-up
        times = latencies(stack.assist_url, args.n)
    finally:
        stack.stop()
    figures = {
        "median": round(statistics.median(times), 1),
        "p99": round(percentile(times, 0.99), 1),
        "min": round(min(times), 1),
        "max": round(max(times), 1),
    }
    result = {"requests": args.n, "suggest_ms": figures}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"suggest requests: {args.n} (sequential, SQLite demo database, real Rasa NLU)")
    print(
        f"/assist/suggest latency: median {figures['median']} ms, p99 {figures['p99']} ms,"
        f" min {figures['min']} ms, max {figures['max']} ms"
    )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
