"""Tests of shopbot_rasa/patches/event_broker.py against the real RabbitMQ.

RabbitMQ runs on 127.0.0.1:5672 (guest/guest; ``SHOPBOT_TEST_RABBITMQ``
elsewhere, see ``tests/bot/rabbitmq_helpers.py``); the tests fail when it is
missing. Rasa's own
``PikaEventBroker`` (patched) reaches it through a small TCP forwarder in the
test's event loop, which the test cuts (live connections dropped, new ones
refused) and restores. Each test uses a queue of its own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import uuid
from typing import Any, Awaitable, Callable, List, Optional, Set

import aio_pika
import pytest
from rasa.core.brokers.pika import PikaEventBroker
from rasa.utils.endpoints import EndpointConfig

from shopbot_rasa import patches
from shopbot_rasa.patches import event_broker, expected
from shopbot_rasa.patches.event_broker import install
from shopbot_rasa.patches.expected import PatchMismatchError
from tests.bot.rabbitmq_helpers import broker_address

RABBITMQ = broker_address()


@pytest.fixture(autouse=True)
def patched(monkeypatch: pytest.MonkeyPatch) -> None:
    """The patch installed for the test only (the class is restored after)."""
    for name in ("from_endpoint_config", "_publish", "close"):
        monkeypatch.setattr(PikaEventBroker, name, PikaEventBroker.__dict__[name])
    monkeypatch.setattr(PikaEventBroker, event_broker._MARK, False, raising=False)
    install()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Forwarder:
    """Forwards 127.0.0.1:port to RabbitMQ; cut() drops and refuses, start() listens."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: Optional[asyncio.AbstractServer] = None
        self.writers: Set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*RABBITMQ)
        self.writers.update((writer, up_writer))

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


async def queued(queue: str, expected: int, timeout_s: float = 60) -> List[str]:
    """Read ``expected`` messages of ``queue`` straight from RabbitMQ; their texts."""
    connection = await aio_pika.connect(host=RABBITMQ[0], port=RABBITMQ[1])
    texts: List[str] = []
    try:
        channel = await connection.channel()
        source = await channel.declare_queue(queue, durable=True)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(texts) < expected and asyncio.get_running_loop().time() < deadline:
            message = await source.get(fail=False)
            if message is None:
                await asyncio.sleep(0.2)
                continue
            await message.ack()
            texts.append(json.loads(message.body)["text"])
        await source.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
    return texts


def broker_config(port: int, queue: str) -> EndpointConfig:
    return EndpointConfig(
        url="127.0.0.1",
        type="pika",
        port=port,
        username="guest",
        password="guest",
        queues=[queue],
        retry_delay_in_seconds=0.5,
    )


def event(text: str) -> dict:
    return {"event": "user", "text": text, "sender_id": "web-1"}


async def wait_for(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())


def test_rasa_starts_while_rabbitmq_is_away_and_sends_the_kept_events_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = f"shopbot_test_{uuid.uuid4().hex[:10]}"

    async def scenario() -> List[str]:
        forwarder = Forwarder(free_port())  # not listening yet: refused
        broker = await PikaEventBroker.from_endpoint_config(broker_config(forwarder.port, queue))
        assert broker is not None and not broker.is_ready()
        for text in ("一", "二", "三"):
            broker.publish(event(text))
        await wait_for(lambda: len(broker._unpublished_events) == 3)
        await forwarder.start()
        await wait_for(lambda: not broker._unpublished_events and broker.is_ready())
        broker.publish(event("四"))
        texts = await queued(queue, 4)
        await broker.close()
        await forwarder.cut()
        return texts

    with caplog.at_level(logging.INFO, logger=event_broker.__name__):
        texts = run(scenario)
    assert texts == ["一", "二", "三", "四"]
    lines = [r.getMessage() for r in caplog.records if r.name == event_broker.__name__]
    assert "is unreachable (" in lines[0] and "retrying" not in lines[0]
    assert "the bot answers without it" in lines[0]
    assert any("is back: sending 3 kept events" in line for line in lines)
    assert "guest" not in caplog.text
    assert not [r for r in caplog.records if r.name == "rasa.core.brokers.pika"]


def test_events_of_an_outage_are_kept_and_sent_after_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = f"shopbot_test_{uuid.uuid4().hex[:10]}"

    async def scenario() -> List[str]:
        forwarder = Forwarder(free_port())
        await forwarder.start()
        broker = await PikaEventBroker.from_endpoint_config(broker_config(forwarder.port, queue))
        assert broker is not None and broker.is_ready()
        broker.publish(event("before"))
        await wait_for(lambda: not broker._background_tasks)  # published and confirmed
        await forwarder.cut()
        await wait_for(lambda: not broker.is_ready() or broker._connection.reconnecting)
        for text in ("during 1", "during 2"):
            broker.publish(event(text))
        await wait_for(lambda: len(broker._unpublished_events) == 2)
        await forwarder.start()
        await wait_for(lambda: not broker._unpublished_events)  # robust reconnect: ~5 s
        broker.publish(event("after"))
        texts = await queued(queue, 4)
        await broker.close()
        await forwarder.cut()
        return texts

    with caplog.at_level(logging.INFO, logger=event_broker.__name__):
        texts = run(scenario)
    assert texts == ["before", "during 1", "during 2", "after"]
    lines = [r.getMessage() for r in caplog.records if r.name == event_broker.__name__]
    assert sum("the bot answers without it" in line for line in lines) == 1
    assert any("is back: sending 2 kept events" in line for line in lines)


def test_kept_events_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_broker, "MAX_KEPT_EVENTS", 2)

    async def scenario() -> List[str]:
        broker = await PikaEventBroker.from_endpoint_config(broker_config(free_port(), "q"))
        for text in ("1", "2", "3"):
            broker.publish(event(text))
        await wait_for(lambda: event_broker._state(broker)["dropped"] == 1)
        kept = [e["text"] for e in broker._unpublished_events]
        await broker.close()
        return kept

    assert run(scenario) == ["2", "3"]


def test_install_is_idempotent_registered_and_checks_rasa(monkeypatch: pytest.MonkeyPatch) -> None:
    patched_publish = PikaEventBroker._publish
    install()
    assert PikaEventBroker._publish is patched_publish
    assert install in patches.INSTALLERS
    monkeypatch.setattr(PikaEventBroker, event_broker._MARK, False)
    monkeypatch.setattr(expected, "RASA_VERSION", "9.9.9")
    with pytest.raises(PatchMismatchError, match=r"9\.9\.9"):
        install()
