"""Database fixtures for the tests of bot/: SQLite always, PostgreSQL on demand.

``db_url`` is parametrised over the backends: an SQLite file in the test's
temporary folder, and, when ``SHOPBOT_TEST_PG_URL`` is set, PostgreSQL. For
PostgreSQL one database with a unique name is created per test run (on the
server of that URL, through its ``postgres`` database) and dropped at the
end; each test gets its own fresh schema in it, selected with
``search_path``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.pool import NullPool

from bot.db.migrate import upgrade
from bot.db.session import dispose_engines, session_scope
from bot.devtools import scratch_database
from tests.bot.db_helpers import DEMO_FILE

PG_ENV = "SHOPBOT_TEST_PG_URL"


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


def _admin_engine(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """Create a uniquely named PostgreSQL database for this run; drop it after."""
    base = make_url(os.environ[PG_ENV])
    with scratch_database(os.environ[PG_ENV], prefix="shopbot_test") as name:
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            dispose_engines()


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) on each backend."""
    if request.param == "sqlite":
        # A folder that does not exist yet: the engine must create it.
        yield f"sqlite:///{tmp_path / 'var' / 'shopbot.sqlite3'}"
        dispose_engines()
        return
    database_url: str = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(database_url)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = (
        make_url(database_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    try:
        yield url
    finally:
        dispose_engines()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture()
def backend(db_url: str) -> str:
    """``sqlite`` or ``postgresql``: the backend of ``db_url``."""
    return make_url(db_url).get_backend_name()


@pytest.fixture()
def migrated_url(db_url: str) -> str:
    """A database with the newest schema and no rows."""
    upgrade(db_url)
    return db_url


@pytest.fixture()
def demo_url(migrated_url: str) -> str:
    """A database holding the demo data."""
    from bot.importer import import_file

    with session_scope(migrated_url) as session:
        import_file(DEMO_FILE, session)
    return migrated_url


@pytest.fixture()
def anyio_backend() -> str:
    """The async tests (``pytest.mark.anyio``) run on asyncio."""
    return "asyncio"
