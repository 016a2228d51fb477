"""RabbitMQ for the tests: this machine's broker, unique queues, and a TCP proxy to cut.

The tests need the RabbitMQ of ``SHOPBOT_TEST_RABBITMQ`` (``host:port``,
default 127.0.0.1:5672, guest/guest) and fail, not skip, when it is not
there. Each test gets its own durable queue (deleted afterwards); an outage
is simulated by cutting a :class:`TcpProxy` in front of the broker, never by
stopping the broker itself.
"""

from __future__ import annotations

import os
import socket
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


def delete_queue(queue: str) -> None:
    """Delete a test queue (and whatever is still in it)."""
    connection = connect()
    try:
        connection.channel().queue_delete(queue=queue)
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


class TcpProxy:
    """A TCP proxy on 127.0.0.1 in front of a server; :meth:`cut` simulates an outage.

    Args:
        target: The server's host and port.
        port: Where the proxy listens (a free port when 0).
    """

    def __init__(self, target: Tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.port = port
        self._listener: Optional[socket.socket] = None
        self._sockets: List[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        """Listen (again) and forward every connection to the target."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Stop listening and drop every connection: the server is gone."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


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
