"""Tests of bot/db/migrate.py and the Alembic revisions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from bot.db.migrate import alembic_config, current_revision, head_revision, upgrade
from bot.db.models import Base
from bot.db.session import dispose_engines, get_engine
from tests.bot.db_helpers import row_counts, snapshot
from tests.bot.subprocess_helpers import REPO, run_python

TABLES = {
    "shops",
    "buyers",
    "orders",
    "claims",
    "claim_events",
    "im_inbox",
    "im_outbox",
    "assist_feedback",
    "evidence_files",
    "handoffs",
    "daily_counts",
    "daily_conversations",
    "event_receipts",
}


def _schema_diffs(url: str) -> list[object]:
    with get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_on_an_empty_database_builds_the_schema(db_url: str) -> None:
    assert current_revision(db_url) is None
    upgrade(db_url)
    tables = set(inspect(get_engine(db_url)).get_table_names())
    assert tables == TABLES | {"alembic_version"}
    assert current_revision(db_url) == head_revision()


def test_models_agree_with_the_migrations(migrated_url: str) -> None:
    assert _schema_diffs(migrated_url) == []


def test_schema_has_the_index_and_constraints(migrated_url: str) -> None:
    inspector = inspect(get_engine(migrated_url))
    assert "ix_orders_buyer_id" in {ix["name"] for ix in inspector.get_indexes("orders")}
    uniques = inspector.get_unique_constraints("claims")
    assert sorted(u["column_names"] for u in uniques) == [["number"], ["order_id"]]


def test_upgrade_is_safe_to_repeat_and_keeps_data(demo_url: str) -> None:
    before = snapshot(demo_url)
    upgrade(demo_url)
    upgrade(demo_url)
    assert snapshot(demo_url) == before
    assert current_revision(demo_url) == head_revision()


def test_downgrade_to_base_then_upgrade_again(migrated_url: str) -> None:
    command.downgrade(alembic_config(migrated_url), "base")
    dispose_engines()
    assert set(inspect(get_engine(migrated_url)).get_table_names()) <= {"alembic_version"}
    upgrade(migrated_url)
    assert _schema_diffs(migrated_url) == []


def test_upgrade_works_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'x.sqlite3'}"
    upgrade(url)
    assert current_revision(url) == head_revision()
    dispose_engines()


def test_upgrade_of_an_in_memory_database() -> None:
    url = "sqlite://"
    try:
        upgrade(url)
        assert _schema_diffs(url) == []
        assert row_counts(url)["orders"] == 0
    finally:
        dispose_engines()


def test_concurrent_upgrades_of_one_database(db_url: str) -> None:
    code = "import sys; from bot.db.migrate import upgrade; upgrade(sys.argv[1])"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_url],
            cwd=REPO,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    assert current_revision(db_url) == head_revision()
    assert _schema_diffs(db_url) == []
    with get_engine(db_url).connect() as connection:
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        assert [row[0] for row in versions] == [head_revision()]


def test_alembic_command_line_uses_alembic_ini(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    result = run_python(["-m", "alembic", "-x", f"url={url}", "upgrade", "head"], timeout=120)
    assert result.returncode == 0, result.stderr
    try:
        assert current_revision(url) == head_revision()
    finally:
        dispose_engines()


def test_importing_the_modules_creates_no_engine() -> None:
    code = (
        "import bot.db.models, bot.db.session, bot.db.migrate, bot.importer, bot.orders\n"
        "from bot.db import session\n"
        "assert session._engines == {}, session._engines\n"
    )
    result = run_python(["-c", code])
    assert result.returncode == 0, result.stderr


def test_0002_numbers_the_claims_that_exist(db_url: str) -> None:
    upgrade(db_url, "0001")
    with get_engine(db_url).begin() as connection:
        connection.exec_driver_sql("INSERT INTO shops (id, name) VALUES ('s', 'S')")
        connection.exec_driver_sql("INSERT INTO buyers (id) VALUES ('b')")
        connection.exec_driver_sql(
            "INSERT INTO orders (order_id, buyer_id, shop_id, product, category, "
            "no_reason_return, free_shipping, quantity, price, status) "
            "VALUES ('42', 'b', 's', 'p', 'general', true, true, 1, 1.00, 'paid')"
        )
        connection.exec_driver_sql(
            "INSERT INTO claims (order_id, type, status, opened_at) "
            "VALUES ('42', 'refund_request', 'requested', '2026-11-20 02:00:00+00:00')"
        )
    dispose_engines()
    upgrade(db_url)
    with get_engine(db_url).connect() as connection:
        rows = connection.exec_driver_sql("SELECT number, evidence FROM claims").all()
    assert [tuple(row) for row in rows] == [("AS42", None)]
    assert _schema_diffs(db_url) == []
