"""The single seam between shopbot and its database.

Every database access goes through :func:`get_engine` or
:func:`session_scope`. Engines are created lazily, on first use of a URL, and
cached per URL; nothing is created at import time.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple, Type

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

#: What SQLAlchemy raises when the database cannot be used right now: it
#: refuses or drops the connection, does not answer, or the pool has no
#: connection to give (retrying later may work; nothing was committed unless
#: the commit itself returned).
UNAVAILABLE: Tuple[Type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeoutError)

_lock = threading.Lock()
_engines: Dict[str, Engine] = {}
_factories: Dict[str, sessionmaker[Session]] = {}


def is_sqlite(url: str | URL) -> bool:
    """Return True when ``url`` names an SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str | URL) -> Path | None:
    """Return the file of an SQLite URL, or None (in-memory or not SQLite).

    Args:
        url: A SQLAlchemy URL.

    Returns:
        The path of the database file as written in the URL, or None for an
        in-memory database, a ``file:`` URI or another backend.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def ensure_sqlite_folder(url: str | URL) -> None:
    """Create the folder of an SQLite database file if it is missing."""
    path = sqlite_file(url)
    if path is not None:
        path.expanduser().parent.mkdir(parents=True, exist_ok=True)


def _enable_sqlite_foreign_keys(dbapi_connection: Any, connection_record: Any) -> None:
    """Turn on foreign-key enforcement, off by default in SQLite."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def get_engine(url: str) -> Engine:
    """Return the engine of ``url``, creating it on first use.

    Engines are cached per URL string and check their connections before use
    (``pool_pre_ping``). For SQLite, foreign keys are enforced on every
    connection and the folder of the database file is created if missing.

    Args:
        url: A SQLAlchemy database URL.

    Returns:
        The cached engine.
    """
    with _lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        if is_sqlite(url):
            ensure_sqlite_folder(url)
            engine = create_engine(url, pool_pre_ping=True)
            event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        _engines[url] = engine
        _factories[url] = sessionmaker(bind=engine, expire_on_commit=False)
        return engine


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """Open a unit of work on the database of ``url``.

    The session commits when the block ends normally, rolls back when it
    raises, and is closed in both cases. Objects loaded in the block stay
    readable after it (``expire_on_commit=False``).

    Args:
        url: A SQLAlchemy database URL.

    Yields:
        A session bound to the cached engine of ``url``.
    """
    get_engine(url)
    session = _factories[url]()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def database_label(url: str | URL) -> str:
    """Name a database for a log line, without user or password.

    Args:
        url: A SQLAlchemy URL.

    Returns:
        ``backend host:port/database`` (``sqlite FILE`` for SQLite), or
        ``database`` when the URL cannot be parsed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "database"
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite {parsed.database or ':memory:'}"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.get_backend_name()} {parsed.host or 'localhost'}{port}/{parsed.database or ''}"


def unavailable_reason(error: BaseException) -> str:
    """Describe an :data:`UNAVAILABLE` error for a log line: class names only.

    The driver's message is left out (it may quote a connection string).
    """
    driver = getattr(error, "orig", None)
    if driver is None:
        return type(error).__name__
    return f"{type(error).__name__}: {type(driver).__module__}.{type(driver).__name__}"


def dispose_engines() -> None:
    """Close every cached engine's connections and forget the engines.

    Tests call this between databases; the next :func:`get_engine` creates
    a fresh engine.
    """
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
        _factories.clear()
    for engine in engines:
        engine.dispose()


__all__ = [
    "UNAVAILABLE",
    "database_label",
    "dispose_engines",
    "ensure_sqlite_folder",
    "get_engine",
    "is_sqlite",
    "session_scope",
    "sqlite_file",
    "unavailable_reason",
]
