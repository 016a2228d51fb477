"""Tests of endpoints.prod.yml as Rasa 3.6 reads it (the production profile)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict

import pytest
from rasa.core.utils import AvailableEndpoints
from rasa.shared.exceptions import RasaException

ROOT = Path(__file__).resolve().parents[2]
ENDPOINTS = ROOT / "endpoints.prod.yml"

ENV: Dict[str, str] = {
    "SHOPBOT_ACTION_URL": "http://127.0.0.1:5055/webhook",
    "SHOPBOT_TRACKER_DB_HOST": "db.internal",
    "SHOPBOT_TRACKER_DB_PORT": "5433",
    "SHOPBOT_TRACKER_DB_NAME": "tracker_x",
    "SHOPBOT_TRACKER_DB_USER": "rasa",
    "SHOPBOT_TRACKER_DB_PASSWORD": "pg-secret",
    "SHOPBOT_REDIS_HOST": "redis.internal",
    "SHOPBOT_REDIS_PORT": "6380",
    "SHOPBOT_REDIS_DB": "2",
    "SHOPBOT_REDIS_PASSWORD": "",
    "SHOPBOT_RABBITMQ_HOST": "mq.internal",
    "SHOPBOT_RABBITMQ_PORT": "5673",
    "SHOPBOT_RABBITMQ_USER": "shopbot",
    "SHOPBOT_RABBITMQ_PASSWORD": "mq-secret",
    "SHOPBOT_EVENTS_QUEUE": "events_x",
}


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> Dict[str, str]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return ENV


def test_every_store_comes_from_the_environment(env: Dict[str, str]) -> None:
    endpoints = AvailableEndpoints.read_endpoints(str(ENDPOINTS))
    assert endpoints.action is not None and endpoints.action.url == env["SHOPBOT_ACTION_URL"]

    tracker = endpoints.tracker_store
    assert tracker is not None and tracker.type == "SQL"
    assert tracker.kwargs == {
        "dialect": "postgresql",
        "host": "db.internal",
        "port": "5433",
        "db": "tracker_x",
        "username": "rasa",
        "password": "pg-secret",
    }

    lock = endpoints.lock_store
    assert lock is not None and lock.type == "shopbot_rasa.lock_store.AtomicRedisLockStore"
    assert lock.url == "redis.internal"
    assert lock.kwargs == {"port": "6380", "db": "2", "password": ""}

    broker = endpoints.event_broker
    assert broker is not None and broker.type == "pika"
    assert broker.url == "mq.internal"
    assert broker.kwargs == {
        "port": "5673",
        "username": "shopbot",
        "password": "mq-secret",
        "queues": ["events_x"],
    }


def test_the_tracker_store_url_is_postgresql_on_the_configured_server(
    env: Dict[str, str],
) -> None:
    from rasa.core.tracker_store import SQLTrackerStore, validate_port

    tracker = AvailableEndpoints.read_endpoints(str(ENDPOINTS)).tracker_store
    assert tracker is not None
    kwargs = {**tracker.kwargs, "port": validate_port(tracker.kwargs["port"])}
    url = SQLTrackerStore.get_db_url(**kwargs)
    assert url.render_as_string(hide_password=True) == (
        "postgresql://rasa:***@db.internal:5433/tracker_x"
    )
    assert url.password == "pg-secret"


def test_an_unset_variable_is_an_error_naming_it(
    env: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOPBOT_REDIS_HOST")
    with pytest.raises(RasaException, match="SHOPBOT_REDIS_HOST"):
        AvailableEndpoints.read_endpoints(str(ENDPOINTS))


def test_no_value_is_written_in_the_file() -> None:
    """Hosts, names and secrets all come from the environment (plain ${VAR} scalars)."""
    values = re.findall(r"^\s*(?:- |[a-z_]+: )(.+)$", ENDPOINTS.read_text(), re.MULTILINE)
    literal = [
        value
        for value in values
        if not re.fullmatch(r"\$\{SHOPBOT_[A-Z_]+\}", value)
        and value not in ("SQL", "postgresql", "pika")
        and not value.startswith("shopbot_rasa.")
    ]
    assert literal == []
