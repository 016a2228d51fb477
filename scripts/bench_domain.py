"""Benchmark the domain core: decisions, order lookup + decision, import.

Prints:
  * decisions per second of the pure rule engine on one core;
  * the median (and p95) of one order lookup + decision through
    ``bot.services.decide_for_order`` on SQLite, and on PostgreSQL when a URL
    is given (``--pg-url`` or ``SHOPBOT_TEST_PG_URL``; a uniquely named
    database is created on that server and dropped afterwards);
  * the import rate of N orders (default 100,000) into a fresh SQLite file.

Usage (from the repository root):
    PYTHONPATH=. python scripts/bench_domain.py [--decisions 200000]
        [--lookups 2000] [--orders 10000] [--import-orders 100000]
        [--pg-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

from sqlalchemy import create_engine, make_url
from sqlalchemy.pool import NullPool

from bot.db.migrate import upgrade
from bot.db.session import dispose_engines, session_scope
from bot.importer import import_data
from bot.orders import OrderView, recent_orders
from bot.policy.engine import BuyerFacts, decide
from bot.policy.table import load_table
from bot.services import decide_for_order
from bot.settings import load_settings
from scripts.bench_import import generate, timed_import

TODAY = date(2026, 10, 20)
PROBLEMS = ("quality_issue", "return_goods", "size_issue", "fake_goods", "shipping_fee")


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def bench_decisions(count: int, orders: Sequence[OrderView]) -> float:
    """Return decisions per second of the pure engine over ``orders``."""
    table = load_table()
    facts = BuyerFacts()
    cases = [(order, PROBLEMS[n % len(PROBLEMS)]) for n, order in enumerate(orders)]
    started = time.perf_counter()
    for n in range(count):
        order, problem = cases[n % len(cases)]
        decide(table, order, problem, facts, TODAY)
    return count / (time.perf_counter() - started)


def bench_lookups(url: str, count: int, order_count: int) -> Tuple[float, float, List[OrderView]]:
    """Fill ``url`` with generated orders; return (median ms, p95 ms, some orders)."""
    upgrade(url)
    with session_scope(url) as session:
        import_data(generate(order_count), session, source="bench")
    with session_scope(url) as session:
        sample = recent_orders(session, "buyer_000", limit=200)
    settings = load_settings(
        {"SHOPBOT_DB_URL": url, "SHOPBOT_TODAY": TODAY.isoformat(), "SHOPBOT_VAR_DIR": "var"}
    )
    decide_for_order(settings, "buyer_000", sample[0].order_id, "quality_issue")  # warm up
    timings: List[float] = []
    for n in range(count):
        order = sample[n % len(sample)]
        started = time.perf_counter()
        result = decide_for_order(
            settings, order.buyer_id, order.order_id, PROBLEMS[n % len(PROBLEMS)]
        )
        timings.append((time.perf_counter() - started) * 1000)
        if result.outcome != "decided":
            raise RuntimeError(f"order {order.order_id} not found")
    dispose_engines()
    return statistics.median(timings), _percentile(timings, 0.95), sample


class _PgDatabase:
    """A uniquely named PostgreSQL database, dropped on exit."""

    def __init__(self, base_url: str) -> None:
        self.base = make_url(base_url)
        self.name = f"shopbot_bench_{uuid.uuid4().hex[:10]}"
        admin_url = self.base.set(database="postgres").render_as_string(hide_password=False)
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def __enter__(self) -> str:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        return self.base.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *exc: object) -> None:
        dispose_engines()
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


def _temporary_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--orders", type=int, default=10_000, help="orders in the lookup DB")
    parser.add_argument("--import-orders", type=int, default=100_000)
    parser.add_argument("--pg-url", default=os.environ.get("SHOPBOT_TEST_PG_URL"))
    args = parser.parse_args(argv)

    for url in _temporary_sqlite():
        median, p95, sample = bench_lookups(url, args.lookups, args.orders)
        print(
            f"SQLite: order lookup + decision: median {median:.3f} ms, p95 {p95:.3f} ms "
            f"({args.lookups} calls, {args.orders} orders)"
        )
    rate = bench_decisions(args.decisions, sample)
    print(f"rule engine alone: {rate:,.0f} decisions/s on one core ({args.decisions} decisions)")
    if args.pg_url:
        with _PgDatabase(args.pg_url) as url:
            median, p95, _ = bench_lookups(url, args.lookups, args.orders)
        print(f"PostgreSQL: order lookup + decision: median {median:.3f} ms, p95 {p95:.3f} ms")
    else:
        print("PostgreSQL: skipped (no --pg-url, no SHOPBOT_TEST_PG_URL)")
    if args.import_orders > 0:
        for url in _temporary_sqlite():
            upgrade(url)
            data = generate(args.import_orders)
            report, seconds = timed_import(url, data)
            dispose_engines()
            print(
                f"SQLite import: {args.import_orders} orders in {seconds:.2f} s "
                f"({args.import_orders / seconds:,.0f} orders/s; {report.orders.inserted} inserted)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
