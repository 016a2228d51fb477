"""Tests of bot/db/session.py: the database seam."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.db.models import Shop
from bot.db.session import dispose_engines, get_engine, session_scope, sqlite_file
from tests.bot.db_helpers import row_counts


def test_engine_is_cached_per_url_until_disposed(db_url: str) -> None:
    engine = get_engine(db_url)
    assert get_engine(db_url) is engine
    assert engine.pool._pre_ping  # checks connections before use
    dispose_engines()
    assert get_engine(db_url) is not engine


def test_sqlite_engine_creates_the_folder_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "db.sqlite3"
    url = f"sqlite:///{path}"
    try:
        with get_engine(url).connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        assert path.exists()
        assert sqlite_file(url) == path
    finally:
        dispose_engines()


def test_session_scope_commits_on_success(migrated_url: str) -> None:
    with session_scope(migrated_url) as session:
        session.add(Shop(id="shop_x", name="X"))
    with session_scope(migrated_url) as session:
        assert session.scalar(select(Shop.name).where(Shop.id == "shop_x")) == "X"


def test_session_scope_rolls_back_on_error(migrated_url: str) -> None:
    with pytest.raises(RuntimeError), session_scope(migrated_url) as session:
        session.add(Shop(id="shop_x", name="X"))
        session.flush()
        raise RuntimeError("boom")
    assert row_counts(migrated_url)["shops"] == 0


def test_session_scope_closes_the_session(migrated_url: str) -> None:
    with session_scope(migrated_url) as session:
        session.add(Shop(id="shop_x", name="X"))
    assert not session.in_transaction()
    assert list(session.identity_map.values()) == []


def test_foreign_keys_are_enforced(migrated_url: str) -> None:
    from bot.db.models import Order

    order = Order(
        order_id="1",
        buyer_id="nobody",
        shop_id="nowhere",
        product="p",
        category="general",
        no_reason_return=True,
        free_shipping=True,
        quantity=1,
        price=1,
        status="unpaid",
    )
    with pytest.raises(IntegrityError), session_scope(migrated_url) as session:
        session.add(order)
    assert row_counts(migrated_url)["orders"] == 0


def test_sqlite_file_of_urls() -> None:
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("postgresql+psycopg://u@h/db") is None
    assert sqlite_file("sqlite:////srv/x/y.db") == Path("/srv/x/y.db")
