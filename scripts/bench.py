"""Benchmark of the running stack: turn latency, start-up time, memory.

Starts the real servers (as the end-to-end tests do) with the demo orders and
measures, in one run:

* a bare Rasa turn: "在吗" answered by a rule and a response, no custom action;
* a custom-action turn: an order question answered from the database;
* start-up time and resident memory of the Rasa and action servers.

It prints figures and the ratio of the two turns; it asserts nothing. Run with
``make bench`` (``N=`` turns per kind, default 200).
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

import httpx

from bot.auth import mint_token
from bot.devtools import Stack, bench_arguments, latency_summary, shop_turns

SECRET = "bench-secret-not-for-production-0123456789"  # noqa: S105 - local benchmark


def main() -> int:
    """Run the benchmark and print its figures; return an exit code."""
    args = bench_arguments(__doc__ or "", 200, "turns per kind", "bench.json")
    work = Path(tempfile.mkdtemp(prefix="shopbot-bench-"))
    stack = Stack.demo(args.model.resolve(), work, SECRET)
    # Hundreds of turns of one buyer: the per-identity rate limit would stop them.
    stack.env = {**stack.env, "SHOPBOT_RATE_LIMIT": "off"}
    stack.start()
    try:
        token = mint_token(SECRET, "buyer_001", ttl_seconds=3600)
        with httpx.Client(timeout=60) as client:
            shop_turns(client, stack.url, token, "在吗", 20)  # warm-up
            shop_turns(client, stack.url, token, "我的订单2026111000001的衣服太大了", 20)
            bare = shop_turns(client, stack.url, token, "在吗", args.n)
            action = shop_turns(
                client, stack.url, token, "我的订单2026111000001的衣服太大了", args.n
            )
        memory = stack.rss_kib()
    finally:
        stack.stop()
    result = {
        "turns_per_kind": args.n,
        "bare_rasa_turn": latency_summary(bare),
        "custom_action_turn": latency_summary(action),
        "ratio_median": round(statistics.median(action) / statistics.median(bare), 2),
        "startup_s": {name: round(value, 1) for name, value in stack.startup_seconds.items()},
        "rss_mib": {name: round(kib / 1024, 1) for name, kib in memory.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"turns per kind: {args.n} (one conversation alone, sequential)")
    for kind in ("bare_rasa_turn", "custom_action_turn"):
        figures = result[kind]
        print(
            f"{kind:20} median {figures['median_ms']:7.2f} ms   p95 {figures['p95_ms']:7.2f} ms"
            f"   p99 {figures['p99_ms']:7.2f} ms"
        )
    print(f"custom-action / bare median ratio: {result['ratio_median']}")
    print(f"start-up: {result['startup_s']}  resident memory MiB: {result['rss_mib']}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
