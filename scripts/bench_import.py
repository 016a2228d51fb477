"""Benchmark the order importer on a temporary SQLite database.

Generates N orders in memory (a few shops and buyers, every category), imports
them into a fresh SQLite file, then imports the same data again (all rows
unchanged) and prints the rate and the time of both runs.

Usage (from the repository root):
    PYTHONPATH=. python scripts/bench_import.py [-n 100000] [--url URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from bot.db.migrate import upgrade
from bot.db.models import CATEGORIES
from bot.db.session import dispose_engines, session_scope
from bot.importer import ImportReport, import_data

STATUSES = ("paid", "shipped", "delivered", "completed")


def generate(count: int, buyers: int = 5, shops: int = 3) -> Dict[str, Any]:
    """Return import data with ``count`` orders spread over a few buyers and shops."""
    orders: List[Dict[str, Any]] = []
    for n in range(count):
        category = CATEGORIES[n % len(CATEGORIES)]
        status = STATUSES[n % len(STATUSES)]
        day = 1 + n % 28
        row: Dict[str, Any] = {
            "order_id": f"2026{n:09d}",
            "buyer_id": f"buyer_{n % buyers:03d}",
            "shop_id": f"shop_{n % shops:02d}",
            "product": f"product {n}",
            "category": category,
            "quantity": 1 + n % 3,
            "price": f"{n % 5000}.{n % 100:02d}",
            "status": status,
            "paid_at": f"2026-10-{day:02d}T10:00:00+08:00",
        }
        if status != "paid":
            row["shipped_at"] = f"2026-10-{day:02d}T18:00:00+08:00"
            row["courier"] = "SF"
            row["tracking_no"] = f"SF{n:010d}"
        if status in ("delivered", "completed"):
            row["delivered_at"] = f"2026-10-{day:02d}T21:00:00+08:00"
        if status == "completed":
            row["completed_at"] = f"2026-10-{day:02d}T23:30:00+08:00"
        if category == "virtual":
            row["usage_term_days"] = 30
        orders.append(row)
    return {
        "shops": [{"id": f"shop_{n:02d}", "name": f"shop {n}"} for n in range(shops)],
        "buyers": [{"id": f"buyer_{n:03d}", "nick": f"buyer {n}"} for n in range(buyers)],
        "orders": orders,
    }


def timed_import(url: str, data: Dict[str, Any]) -> tuple[ImportReport, float]:
    """Import ``data`` in one unit of work; return the report and the seconds."""
    started = time.perf_counter()
    with session_scope(url) as session:
        report = import_data(data, session, source="bench")
    return report, time.perf_counter() - started


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--orders", type=int, default=100_000)
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        upgrade(url)
        started = time.perf_counter()
        data = generate(args.orders)
        print(f"generated {args.orders} orders in {time.perf_counter() - started:.2f} s")
        try:
            for label in ("first import", "re-import"):
                report, seconds = timed_import(url, data)
                rate = args.orders / seconds if seconds else float("inf")
                print(f"{label}: {seconds:.2f} s, {rate:,.0f} orders/s")
                print(f"  {report.summary()}")
        finally:
            dispose_engines()
    return 0


if __name__ == "__main__":
    sys.exit(main())
