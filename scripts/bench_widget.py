"""Benchmark of the web widget: time from page load to the first bot message.

Starts the real servers and the demo shop page (as the browser tests do),
then opens the page N times in fresh browser contexts (no history, no cache)
of Debian's headless Chromium and reads the widget's own figure,
``window.ShopBot.metrics.firstBotMessageMs`` (``performance.now()`` when the
greeting showed: navigation, page, widget script, the ``/greet`` turn through
Rasa, rendering). It prints figures and asserts nothing. Run with
``make bench-widget`` (``N=`` page loads, default 20).
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import List

from playwright.sync_api import sync_playwright

from bot.demo_shop import make_server, serve_in_background
from bot.devtools import CHROMIUM, CHROMIUM_ARGS, Stack, bench_arguments, free_port, percentile

SECRET = "bench-secret-not-for-production-0123456789"  # noqa: S105 - local benchmark


def first_message_times(shop_url: str, n: int) -> List[float]:
    """Open the demo page ``n`` times; return ms from navigation to first bot message."""
    times = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            for _ in range(n):
                context = browser.new_context(locale="zh-CN")
                page = context.new_page()
                page.goto(shop_url)
                page.locator("#shopbot-widget .msg.bot").first.wait_for(timeout=60_000)
                times.append(float(page.evaluate("window.ShopBot.metrics.firstBotMessageMs")))
                context.close()
        finally:
            browser.close()
    return times


def main() -> int:
    """Run the benchmark and print its figures; return an exit code."""
    args = bench_arguments(
        __doc__ or "", 20, "page loads (after 3 warm-up loads)", "bench_widget.json"
    )
    shop_port = free_port()
    stack = Stack.demo(args.model.resolve(), Path(tempfile.mkdtemp(prefix="shopbot-bw-")), SECRET)
    stack.env = {**stack.env, "SHOPBOT_CORS_ORIGINS": f"http://127.0.0.1:{shop_port}"}
    stack.start()
    shop = make_server("127.0.0.1", shop_port, stack.url, SECRET)
    try:
        url = serve_in_background(shop) + "/"
        first_message_times(url, 3)  # warm-up: Rasa's first turns are slower
        times = first_message_times(url, args.n)
    finally:
        shop.shutdown()
        stack.stop()
    result = {
        "page_loads": args.n,
        "first_bot_message_ms": {
            "median": round(statistics.median(times), 1),
            "p95": round(percentile(times, 0.95), 1),
            "min": round(min(times), 1),
            "max": round(max(times), 1),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    figures = result["first_bot_message_ms"]
    print(f"page loads: {args.n} (fresh browser context each, headless Chromium)")
    print(
        f"page load -> first bot message: median {figures['median']} ms, p95 {figures['p95']} ms,"
        f" min {figures['min']} ms, max {figures['max']} ms"
    )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
