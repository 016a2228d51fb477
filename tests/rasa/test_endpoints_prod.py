"""Tests of endpoints.prod.yml as Rasa 3.6 reads it (the production profile)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict

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
    assert tracker.url == "db.internal"
    assert tracker.kwargs == {
        "dialect": "postgresql",
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


def test_rasa_builds_the_tracker_store_on_the_configured_postgresql(
    env: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through Rasa's own factory (its SQL store recorded, not connected)."""
    from rasa.core import tracker_store

    built: Dict[str, Any] = {}

    class Recorded:
        def __init__(self, **kwargs: Any) -> None:
            built.update(kwargs)

    monkeypatch.setattr(tracker_store, "SQLTrackerStore", Recorded)
    config = AvailableEndpoints.read_endpoints(str(ENDPOINTS)).tracker_store
    tracker_store._create_from_endpoint_config(config, domain=None, event_broker=None)
    arguments = {k: v for k, v in built.items() if k not in ("domain", "event_broker")}
    monkeypatch.undo()
    url = tracker_store.SQLTrackerStore.get_db_url(
        **{**arguments, "port": tracker_store.validate_port(arguments["port"])}
    )
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
