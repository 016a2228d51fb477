"""The consumer of conversation events: RabbitMQ → per-day figures in the order database.

Rasa's pika event broker publishes every event of every conversation to the
durable queue ``SHOPBOT_EVENTS_QUEUE`` (``endpoints.yml``: ``event_broker:``
of type ``pika``). This process reads the queue and keeps the figures of
each day (:mod:`bot.event_counts` says what counts, :mod:`bot.daily_figures`
stores it); the agent console shows them (``GET /assist/figures/daily``).

Delivery guarantees:

* A message is acknowledged only after the transaction that counted it
  committed; one that was counted but not acknowledged (the consumer or the
  connection died in between) comes again and is recognised by its key
  (:func:`bot.event_counts.event_key`): it counts once.
* A malformed message is logged (its size and what is wrong, never its
  content) and acknowledged: it is not redelivered for ever.
* Database unreachable: the message goes back to the queue and the consumer
  waits (1, 2, 4 … s, at most 30 s) before the next.
* RabbitMQ unreachable or gone: one warning line per attempt, and a new
  connection after the same backoff; the process never exits on its own.
  SIGTERM or SIGINT stops it after the message under way.

Command line::

    python -m bot.event_consumer
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import Any, Callable, Optional, Sequence

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from bot.daily_figures import prune_receipts, record
from bot.event_counts import MalformedEvent, count, parse
from bot.settings import RabbitMqSettings, Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)

#: Database errors that pass (the server is down or busy): the message is retried.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError, PoolTimeoutError)


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: ``first`` seconds, doubling up to ``longest``."""

    first: float = 1.0
    longest: float = 30.0

    def next(self, delay: float) -> float:
        """The wait after one of ``delay`` seconds."""
        return min(max(delay * 2, self.first), self.longest)


def connection_parameters(rabbitmq: RabbitMqSettings) -> Any:
    """Return pika's parameters for the configured RabbitMQ (one attempt each)."""
    import pika

    return pika.ConnectionParameters(
        host=rabbitmq.host,
        port=rabbitmq.port,
        credentials=pika.PlainCredentials(rabbitmq.user, rabbitmq.password),
        heartbeat=30,
        blocked_connection_timeout=60,
        connection_attempts=1,
        socket_timeout=5,
    )


class EventConsumer:
    """Counts the events of the queue into the figures, reconnecting for ever.

    Args:
        settings: The order database, the pinned "today" and RabbitMQ.
        prefetch: Unacknowledged messages RabbitMQ may hand over at once.
        backoff: Waits after a failed connection or database write.
        keep_receipts: How long the keys of counted events are kept.
        clock: Unix time (tests pass a fixed one).
    """

    def __init__(
        self,
        settings: Settings,
        prefetch: int = 64,
        backoff: Backoff = Backoff(),
        keep_receipts: timedelta = timedelta(days=7),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.prefetch = prefetch
        self.backoff = backoff
        self.keep_receipts = keep_receipts
        self.clock = clock
        #: Messages handled, by outcome (``counted``, ``duplicate``, ``ignored``,
        #: ``malformed``, ``failed``), and connections made.
        self.stats: Counter[str] = Counter()
        self._stop = threading.Event()
        self._pruned_at = 0.0

    @property
    def where(self) -> str:
        """RabbitMQ's address and the queue, for log lines (no credentials)."""
        rabbitmq = self.settings.rabbitmq
        return f"{rabbitmq.host}:{rabbitmq.port} (queue {rabbitmq.queue!r})"

    def handle(self, body: bytes) -> str:
        """Count one message; return its outcome.

        Returns:
            ``counted``, ``duplicate`` (counted before), ``ignored`` (counts
            nothing) or ``malformed`` (logged, to be acknowledged).

        Raises:
            SQLAlchemyError: The database failed; nothing was counted.
        """
        try:
            counted = count(parse(body), self.settings.today_override)
        except MalformedEvent as exc:
            logger.warning(
                "event consumer: dropped a malformed message (%s, %d bytes)", exc, len(body)
            )
            return "malformed"
        if counted is None:
            return "ignored"
        now = self.settings.now()
        return "counted" if record(self.settings.db_url, counted, now) else "duplicate"

    def stop(self) -> None:
        """Ask :meth:`run` to return after the message under way."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when :meth:`stop` is called."""
        self._stop.wait(seconds)

    def run(self) -> None:
        """Consume until :meth:`stop`; reconnect whenever RabbitMQ goes away."""
        import pika.exceptions

        delay = self.backoff.first
        while not self.stopping:
            try:
                connection = self._connect()
            except (pika.exceptions.AMQPError, OSError) as exc:
                logger.warning(
                    "event consumer: RabbitMQ at %s is unreachable (%s); retrying in %.1f s",
                    self.where,
                    _reason(exc),
                    delay,
                )
                self.wait(delay)
                delay = self.backoff.next(delay)
                continue
            delay = self.backoff.first
            try:
                self._consume(connection)
            except (pika.exceptions.AMQPError, OSError) as exc:
                if not self.stopping:
                    logger.warning(
                        "event consumer: lost RabbitMQ at %s (%s); reconnecting in %.1f s",
                        self.where,
                        _reason(exc),
                        delay,
                    )
            except Exception:  # the consumer must not die: log, wait, start over
                logger.exception("event consumer: unexpected error; reconnecting in %.1f s", delay)
            finally:
                _close(connection)
            if not self.stopping:
                self.wait(delay)
                delay = self.backoff.next(delay)
        logger.info("event consumer: stopped (%s)", dict(self.stats))

    def _connect(self) -> Any:
        import pika

        return pika.BlockingConnection(connection_parameters(self.settings.rabbitmq))

    def _consume(self, connection: Any) -> None:
        queue = self.settings.rabbitmq.queue
        channel = connection.channel()
        channel.queue_declare(queue=queue, durable=True)
        channel.basic_qos(prefetch_count=self.prefetch)
        self.stats["connections"] += 1
        logger.info("event consumer: consuming %s", self.where)
        db_delay = self.backoff.first
        for method, _properties, body in channel.consume(queue, inactivity_timeout=0.5):
            if self.stopping:
                break
            self._prune()
            if method is None:
                continue
            try:
                outcome = self.handle(body)
            except TRANSIENT_DB_ERRORS as exc:
                self.stats["retried"] += 1
                logger.warning(
                    "event consumer: the database is unavailable (%s); the message goes back "
                    "to the queue, next attempt in %.1f s",
                    type(exc).__name__,
                    db_delay,
                )
                channel.basic_nack(method.delivery_tag, requeue=True)
                _pause(connection, db_delay, self._stop)
                db_delay = self.backoff.next(db_delay)
                continue
            except SQLAlchemyError as exc:  # not going to work on a retry either
                logger.error(
                    "event consumer: could not store an event (%s); dropped", type(exc).__name__
                )
                outcome = "failed"
            db_delay = self.backoff.first
            channel.basic_ack(method.delivery_tag)
            self.stats[outcome] += 1
        channel.cancel()

    def _prune(self) -> None:
        """Forget old receipts, at most once an hour; a failure waits for the next hour."""
        moment = time.monotonic()
        if self._pruned_at and moment - self._pruned_at < 3600:
            return
        self._pruned_at = moment
        try:
            removed = prune_receipts(self.settings.db_url, self.settings.now() - self.keep_receipts)
        except SQLAlchemyError as exc:
            logger.warning("event consumer: pruning receipts failed (%s)", type(exc).__name__)
            return
        if removed:
            logger.info(
                "event consumer: forgot %d receipts older than %s", removed, self.keep_receipts
            )


def _reason(exc: BaseException) -> str:
    """A short reason for a log line: the exception's type and message (no credentials)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _pause(connection: Any, seconds: float, stop: threading.Event) -> None:
    """Wait while keeping the connection alive (heartbeats); return early on stop."""
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        connection.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def _close(connection: Any) -> None:
    """Close a connection that may be broken already."""
    try:
        if connection.is_open:
            connection.close()
    except Exception:  # closing a broken connection may fail in many ways
        logger.debug("event consumer: closing the connection failed", exc_info=True)


def _wait_for_database(settings: Settings, consumer: EventConsumer) -> bool:
    """Bring the schema up to date, retrying while the database is down; False when stopped."""
    from bot.db.migrate import upgrade

    delay = consumer.backoff.first
    while not consumer.stopping:
        try:
            upgrade(settings.db_url)
            return True
        except TRANSIENT_DB_ERRORS as exc:
            logger.warning(
                "event consumer: the database is unavailable (%s); retrying in %.1f s",
                type(exc).__name__,
                delay,
            )
            consumer.wait(delay)
            delay = consumer.backoff.next(delay)
    return False


def main(argv: Sequence[str]) -> int:
    """Consume until SIGTERM or SIGINT; return an exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.event_consumer", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--prefetch", type=int, default=64, help="messages in flight (1-1000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # our own lines say what happened
    if not 1 <= args.prefetch <= 1000:
        print("event consumer: --prefetch must be 1 to 1000", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"event consumer: {exc}", file=sys.stderr)
        return 1
    consumer = EventConsumer(settings, prefetch=args.prefetch)

    def stop(signum: int, frame: Optional[FrameType]) -> None:
        consumer.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if not _wait_for_database(settings, consumer):
        return 0
    logger.info("event consumer: counting the events of %s", consumer.where)
    consumer.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
