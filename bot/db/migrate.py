"""Schema migrations, run programmatically (Alembic).

:func:`upgrade` builds the Alembic configuration in code, with the absolute
path of the migration scripts, so it works from any working directory and
needs no ``alembic.ini``. It is safe to call repeatedly (an up-to-date schema
is left alone) and from several processes at once:

* SQLite (a file): the whole upgrade runs in one ``BEGIN IMMEDIATE``
  transaction, so SQLite's own file lock lets one process migrate while the
  others wait, then find the schema current. SQLite DDL is transactional, so
  an interrupted upgrade leaves the previous schema intact.
* PostgreSQL: the upgrade runs in one transaction (PostgreSQL DDL is
  transactional) holding an advisory transaction lock.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, Optional

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.pool import NullPool

from bot.db.session import ensure_sqlite_folder, get_engine, is_sqlite, sqlite_file

#: Folder of the Alembic environment and revisions.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock that serialises concurrent upgrades.
PG_LOCK_KEY = zlib.crc32(b"shopbot.db.migrate")

#: Seconds an SQLite upgrade waits for another process's upgrade to finish.
SQLITE_LOCK_TIMEOUT = 120.0


def alembic_config(url: str, connection: Optional[Connection] = None) -> Config:
    """Return an Alembic configuration for the database of ``url``.

    Args:
        url: SQLAlchemy URL of the database.
        connection: An open connection for the migrations to use, if any.

    Returns:
        A configuration that does not depend on the working directory or on
        ``alembic.ini``, and leaves the process's logging alone.
    """
    config = Config()
    # ConfigParser interpolates "%": escape it in the path.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _sqlite_migration_engine(url: str) -> Engine:
    """Return a one-off engine whose transactions start with BEGIN IMMEDIATE.

    pysqlite's own transaction handling is switched off, so that the
    transaction (DDL included) is exactly the one SQLAlchemy begins, and it
    takes SQLite's write lock at once.
    """
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": SQLITE_LOCK_TIMEOUT})

    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None

    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database of ``url`` to ``revision``.

    Args:
        url: SQLAlchemy URL of the database. For SQLite, the folder of the
            file is created if missing.
        revision: Target revision; the newest by default.
    """
    if is_sqlite(url):
        ensure_sqlite_folder(url)
        if sqlite_file(url) is None:
            # In memory (or a URI): only this process's engine sees it.
            engine = get_engine(url)
            with engine.begin() as connection:
                command.upgrade(alembic_config(url, connection), revision)
            return
        engine = _sqlite_migration_engine(url)
        try:
            with engine.begin() as connection:
                command.upgrade(alembic_config(url, connection), revision)
        finally:
            engine.dispose()
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(PG_LOCK_KEY)))
            command.upgrade(alembic_config(url, connection), revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> Optional[str]:
    """Return the revision the database of ``url`` is at (None: unversioned)."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """Return the newest revision of the migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:  # pragma: no cover - the scripts always have a head
        raise RuntimeError("no migration revision found")
    return head


__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "head_revision",
    "upgrade",
]
