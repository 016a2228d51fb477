"""Tests of bot/event_consumer.py against this machine's RabbitMQ (required: fail, not skip).

Each test publishes Rasa-shaped events (``tests/bot/rasa_events.py``) to a
queue of its own and runs the consumer in a thread, or as the real process
(``python -m bot.event_consumer``). Outages go through a TCP proxy that the
test cuts; the broker itself is never touched.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from sqlalchemy.exc import OperationalError

import bot.event_consumer as consumer_module
from bot.daily_figures import figures
from bot.devtools import TcpProxy, free_port
from bot.event_consumer import Backoff, EventConsumer
from bot.settings import Settings, load_settings
from tests.bot import rasa_events as ev
from tests.bot.rabbitmq_helpers import (
    broker_address,
    consumer_thread,
    delete_queue,
    iter_lines,
    publish,
    ready_messages,
    require_broker,
    unique_queue,
    wait_until,
)
from tests.bot.subprocess_helpers import REPO

DAY = date(2026, 11, 24)
FAST = Backoff(0.05, 0.2)
WAIT_S = 30.0


@pytest.fixture()
def queue() -> Iterator[str]:
    require_broker()
    name = unique_queue()
    yield name
    delete_queue(name)


def _settings(db_url: str, tmp_path: Path, queue: str, port: int | None = None) -> Settings:
    host, broker_port = broker_address()
    return load_settings(
        {
            "SHOPBOT_DB_URL": db_url,
            "SHOPBOT_VAR_DIR": str(tmp_path),
            "SHOPBOT_RABBITMQ_HOST": host,
            "SHOPBOT_RABBITMQ_PORT": str(port or broker_port),
            "SHOPBOT_EVENTS_QUEUE": queue,
        }
    )


def _conversation() -> List[Dict[str, Any]]:
    """A buyer opens a claim; another is handed to a person after a fallback."""
    return [
        ev.user("c1", "衣服太大了能退吗", "size_issue", at=ev.NOON),
        ev.action("c1", "action_answer", at=ev.NOON + 1),
        ev.slot("c1", "awaiting", "claim_confirm", at=ev.NOON + 1.5),
        ev.user("c1", "好的，帮我申请", "affirm", at=ev.NOON + 10),
        ev.action("c1", "action_confirm_claim", at=ev.NOON + 11),
        ev.claim_opened("c1", at=ev.NOON + 11.5),
        ev.user("c2", "阿巴阿巴", "nlu_fallback", at=ev.NOON + 20),
        ev.user("c2", "转人工", "request_human", at=ev.NOON + 30),
        ev.action("c2", "action_handoff", at=ev.NOON + 31),
        ev.handoff("c2", at=ev.NOON + 31.5),
        ev.pause("c2", at=ev.NOON + 31.6),
    ]


class Running:
    """A consumer running in a thread; stopped (and joined) by :meth:`stop`."""

    def __init__(self, consumer: EventConsumer) -> None:
        self.consumer = consumer
        self.thread = consumer_thread(consumer.run)

    def handled(self) -> int:
        stats = self.consumer.stats
        return sum(stats[k] for k in ("counted", "duplicate", "ignored", "malformed", "failed"))

    def stop(self) -> None:
        self.consumer.stop()
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive()


@pytest.fixture()
def running() -> Iterator[List[Running]]:
    started: List[Running] = []
    yield started
    for run in started:
        if run.thread.is_alive():
            run.stop()


def _start(started: List[Running], settings: Settings, **kwargs: Any) -> Running:
    run = Running(EventConsumer(settings, backoff=FAST, **kwargs))
    started.append(run)
    return run


def test_events_on_the_queue_become_the_days_figures(
    migrated_url: str, tmp_path: Path, queue: str, running: List[Running]
) -> None:
    events = _conversation()
    publish(queue, [ev.body(e) for e in events])
    run = _start(running, _settings(migrated_url, tmp_path, queue))
    assert wait_until(lambda: run.handled() == len(events), WAIT_S), run.consumer.stats
    run.stop()
    stats = run.consumer.stats
    assert (stats["counted"], stats["ignored"]) == (6, 5)
    day = figures(migrated_url, DAY).total
    assert (day.conversations, day.messages, day.claims_opened, day.handoffs) == (2, 4, 1, 1)
    assert day.fallbacks == 1 and day.fallback_rate == 0.25
    assert day.intents == {"affirm": 1, "nlu_fallback": 1, "request_human": 1, "size_issue": 1}
    assert ready_messages(queue) == 0  # every message acknowledged


def test_a_redelivered_message_counts_once(
    migrated_url: str, tmp_path: Path, queue: str, running: List[Running]
) -> None:
    claim = ev.body(ev.claim_opened("c1"))
    publish(queue, [claim, claim])
    run = _start(running, _settings(migrated_url, tmp_path, queue))
    assert wait_until(lambda: run.handled() == 2, WAIT_S)
    run.stop()
    assert (run.consumer.stats["counted"], run.consumer.stats["duplicate"]) == (1, 1)
    assert figures(migrated_url, DAY).total.claims_opened == 1


def test_a_malformed_message_is_logged_and_acknowledged(
    migrated_url: str,
    tmp_path: Path,
    queue: str,
    running: List[Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_text = "买家的私密内容"
    bad = [b"not json", json_body := ev.body({"event": "user", "text": secret_text}), b"\xff"]
    publish(queue, [*bad, ev.body(ev.user("c1", "你好", "greet"))])
    caplog.set_level(logging.INFO, logger="bot.event_consumer")
    run = _start(running, _settings(migrated_url, tmp_path, queue))
    assert wait_until(lambda: run.handled() == 4, WAIT_S)
    run.stop()
    assert (run.consumer.stats["malformed"], run.consumer.stats["counted"]) == (3, 1)
    assert ready_messages(queue) == 0  # not requeued for ever
    dropped = [r.getMessage() for r in caplog.records if "dropped a malformed" in r.getMessage()]
    assert len(dropped) == 3
    assert f"{len(json_body)} bytes" in " ".join(dropped)
    assert secret_text not in caplog.text  # the content is never logged
    assert figures(migrated_url, DAY).total.messages == 1


def test_a_database_outage_puts_the_message_back_and_retries(
    migrated_url: str,
    tmp_path: Path,
    queue: str,
    running: List[Running],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_record = consumer_module.record
    failures = [2]

    def flaky(*args: Any) -> bool:
        if failures[0] > 0:
            failures[0] -= 1
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        return real_record(*args)

    monkeypatch.setattr(consumer_module, "record", flaky)
    caplog.set_level(logging.INFO, logger="bot.event_consumer")
    publish(queue, [ev.body(ev.user("c1", "你好", "greet"))])
    run = _start(running, _settings(migrated_url, tmp_path, queue))
    assert wait_until(lambda: run.consumer.stats["counted"] == 1, WAIT_S)
    run.stop()
    assert run.consumer.stats["retried"] == 2
    assert caplog.text.count("the database is unavailable (OperationalError)") == 2
    assert figures(migrated_url, DAY).total.messages == 1
    assert ready_messages(queue) == 0


def test_rabbitmq_unreachable_then_back_then_gone_then_back(
    migrated_url: str,
    tmp_path: Path,
    queue: str,
    running: List[Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.event_consumer")
    port = free_port()  # nothing listens there yet
    run = _start(running, _settings(migrated_url, tmp_path, queue, port=port))
    assert wait_until(lambda: caplog.text.count("is unreachable") >= 3, WAIT_S)
    assert run.thread.is_alive()  # it retries; it does not crash
    assert f"RabbitMQ at 127.0.0.1:{port} (queue '{queue}') is unreachable" in caplog.text
    assert "guest" not in caplog.text

    proxy = TcpProxy(*broker_address(), port=port)
    try:
        publish(queue, [ev.body(ev.user("c1", "你好", "greet", at=ev.NOON))])
        assert wait_until(lambda: run.consumer.stats["counted"] == 1, WAIT_S)
        proxy.cut()
        assert wait_until(lambda: "lost RabbitMQ" in caplog.text, WAIT_S)
        assert run.thread.is_alive()
        publish(queue, [ev.body(ev.user("c2", "在吗", "greet", at=ev.NOON + 1))])
        proxy.restore()
        assert wait_until(lambda: run.consumer.stats["counted"] == 2, WAIT_S)
    finally:
        run.stop()
        proxy.cut()
    assert run.consumer.stats["connections"] >= 2
    assert figures(migrated_url, DAY).total.conversations == 2


def test_the_process_retries_an_unreachable_broker_and_stops_on_sigterm(
    migrated_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "consumer.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        "SHOPBOT_DB_URL": migrated_url,
        "SHOPBOT_VAR_DIR": str(tmp_path),
        "SHOPBOT_RABBITMQ_PORT": str(free_port()),
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.event_consumer"],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        retries = lambda: sum("is unreachable" in line for line in iter_lines(log))  # noqa: E731
        assert wait_until(lambda: retries() >= 2 or process.poll() is not None, WAIT_S)
        assert process.poll() is None, log.read_text()
        assert retries() >= 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(WAIT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = list(iter_lines(log))
    assert any("retrying in" in line for line in lines)
    assert not any("Traceback" in line for line in lines)
