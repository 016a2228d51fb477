"""Fixtures of the Rasa-side tests: the channels on a real server over a real tracker store.

``tracker_store`` is Rasa's SQL tracker store on an SQLite file and, when
``SHOPBOT_TEST_PG_URL`` is set, on PostgreSQL (a database with a unique name,
dropped at the end), as ``tests/bot/conftest.py`` does for the order database.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest
from rasa.core.tracker_store import SQLTrackerStore

from bot.settings import load_settings
from shopbot_rasa.channels.im import ImInput
from shopbot_rasa.channels.shop import ShopInput
from tests.rasa.channel_server import ChannelServer, FakeAgent, FakeImWorker, load_domain

PG_ENV = "SHOPBOT_TEST_PG_URL"
SHOP_SECRET = "shop-fuzz-secret-0123456789abcdef"
IM_SECRET = "im-fuzz-secret"
#: The one shop origin browsers may call from.
ORIGIN = "https://shop.example"


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


def _pg_admin(url: str, statement: str) -> None:
    import psycopg2

    parts = urlsplit(url)  # postgresql[+driver]://user[:password]@host[:port]/db
    connection = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or "",
        dbname="postgres",
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture(scope="module", params=_backends())
def tracker_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SQLTrackerStore]:
    """Rasa's SQL tracker store, empty, on each backend."""
    domain = load_domain()
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("tracker")
        store = SQLTrackerStore(domain, dialect="sqlite", db=str(folder / "tracker.db"))
        yield store
        store.engine.dispose()
        return
    url = os.environ[PG_ENV]
    parts = urlsplit(url)
    name = f"shopbot_tracker_test_{uuid.uuid4().hex[:12]}"
    _pg_admin(url, f'CREATE DATABASE "{name}"')
    store = SQLTrackerStore(
        domain,
        dialect="postgresql",
        host=parts.hostname,
        port=parts.port or 5432,
        db=name,
        username=parts.username or "postgres",
        password=parts.password or "",
    )
    try:
        yield store
    finally:
        store.engine.dispose()
        _pg_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def im_worker() -> Iterator[FakeImWorker]:
    """A stand-in for the IM worker's ``/inbox``."""
    worker = FakeImWorker(IM_SECRET)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def channel_server(
    tracker_store: SQLTrackerStore, im_worker: FakeImWorker
) -> Iterator[ChannelServer]:
    """The ``shop`` and ``im`` channels on a real server (no rate limit)."""
    settings = load_settings(
        {
            "SHOPBOT_CORS_ORIGINS": ORIGIN,
            "SHOPBOT_RATE_LIMIT": "off",
            "SHOPBOT_IM_SECRET": IM_SECRET,
            "SHOPBOT_IM_CALLBACK_URL": "http://127.0.0.1:9/callback",
            "SHOPBOT_IM_WORKER_URL": im_worker.url,
        }
    )
    channels = [ShopInput(secret=SHOP_SECRET, settings=settings), ImInput(settings)]
    server = ChannelServer(channels, FakeAgent(tracker_store, load_domain())).start()
    yield server
    server.stop()
