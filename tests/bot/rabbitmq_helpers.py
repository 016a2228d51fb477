"""RabbitMQ for the tests: this machine's broker, unique queues, and a TCP proxy to cut.

The tests need the RabbitMQ of ``SHOPBOT_TEST_RABBITMQ`` (``host:port``,
default 127.0.0.1:5672, guest/guest) and fail, not skip, when it is not
there. Each test gets its own durable queue (deleted afterwards); an outage
is simulated by cutting a :class:`bot.devtools.TcpProxy` in front of the
broker, never by stopping the broker itself.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import pytest

#: The broker the tests use.
BROKER = os.environ.get("SHOPBOT_TEST_RABBITMQ", "127.0.0.1:5672")


def broker_address() -> Tuple[str, int]:
    """The broker's host and port."""
    host, _, port = BROKER.rpartition(":")
    return host, int(port)


def connect(port: Optional[int] = None) -> Any:
    """A blocking pika connection to the broker (or to ``port`` on its host)."""
    import pika

    host, broker_port = broker_address()
    return pika.BlockingConnection(
        pika.ConnectionParameters(
            host=host,
            port=port or broker_port,
            credentials=pika.PlainCredentials("guest", "guest"),
            connection_attempts=1,
            socket_timeout=5,
        )
    )


def require_broker() -> None:
    """Fail the test (never skip) when RabbitMQ does not answer."""
    try:
        connect().close()
    except Exception as exc:  # noqa: BLE001 - any failure means the same: no broker
        pytest.fail(f"RabbitMQ at {BROKER} is required (guest/guest): {exc!r}")


def unique_queue() -> str:
    """A queue name no other test or helper uses."""
    return f"shopbot_test_{uuid.uuid4().hex[:12]}"


def publish(queue: str, bodies: Sequence[bytes]) -> None:
    """Publish persistent messages to ``queue`` (declared durable, as Rasa declares it)."""
    import pika

    connection = connect()
    try:
        channel = connection.channel()
        channel.queue_declare(queue=queue, durable=True)
        for body in bodies:
            channel.basic_publish(
                exchange="",
                routing_key=queue,
                body=body,
                properties=pika.BasicProperties(delivery_mode=2),
            )
    finally:
        connection.close()


def ready_messages(queue: str) -> int:
    """How many messages wait in ``queue`` (not counting ones being handled)."""
    connection = connect()
    try:
        declared = connection.channel().queue_declare(queue=queue, durable=True, passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


def take_messages(queue: str) -> List[bytes]:
    """Take (and acknowledge) every message waiting in ``queue``; their bodies, in order."""
    connection = connect()
    try:
        channel = connection.channel()
        channel.queue_declare(queue=queue, durable=True)
        bodies: List[bytes] = []
        while True:
            method, _, body = channel.basic_get(queue=queue, auto_ack=True)
            if method is None:
                return bodies
            bodies.append(body)
    finally:
        connection.close()


def delete_queue(queue: str) -> None:
    """Delete a test queue (and whatever is still in it); nothing happens when it is gone."""
    # Imported here: the Rasa-side tests (Python 3.10, no httpx) use this module too.
    from bot.devtools import delete_rabbitmq_queue
    from bot.settings import RabbitMqSettings

    host, port = broker_address()
    delete_rabbitmq_queue(RabbitMqSettings(host=host, port=port, queue=queue))


def queue_messages(queue: str) -> int:
    """Return how many messages RabbitMQ's ``queue`` holds (it must exist)."""
    connection = connect()
    try:
        declared = connection.channel().queue_declare(queue=queue, passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


def delete_exchange(exchange: str) -> None:
    """Delete a test exchange."""
    connection = connect()
    try:
        connection.channel().exchange_delete(exchange=exchange)
    finally:
        connection.close()


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passed; return whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


def consumer_thread(run: Callable[[], None]) -> threading.Thread:
    """Start ``run`` in a daemon thread."""
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def iter_lines(path: Any) -> Iterator[str]:
    """The lines of a log file (empty when it does not exist yet)."""
    try:
        yield from open(path, encoding="utf-8", errors="replace").read().splitlines()
    except FileNotFoundError:
        return
