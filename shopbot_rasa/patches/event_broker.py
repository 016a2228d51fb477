"""The bot keeps answering while RabbitMQ is away (Rasa's pika event broker).

Rasa 3.6.21's :class:`~rasa.core.brokers.pika.PikaEventBroker` publishes
conversation events in background tasks, so a turn never waits for
RabbitMQ, but:

* at start-up it insists on a connection: 20 attempts 5 s apart, then the
  server does not start at all;
* an event published before the first connection is dropped without a word;
* during an outage every event is logged as an error (with its text).

With this patch:

* **RabbitMQ away at start-up**: one attempt (at most
  :data:`CONNECT_TIMEOUT_S`); when it fails the server starts anyway, one
  log line says so, and a background task tries again every
  ``retry_delay_in_seconds`` of the broker's configuration until it connects;
* **RabbitMQ lost later**: aio-pika's robust connection reconnects by itself
  (every 5 s); one log line says the connection is lost;
* meanwhile events are **kept in memory**, in order, up to
  :data:`MAX_KEPT_EVENTS` (beyond, the oldest are dropped, with one log line
  per outage), and sent when RabbitMQ is back, with one log line saying how
  many. The tracker store stays the record of every conversation.

The log lines (``host:port`` only, never credentials)::

    event broker: RabbitMQ at 127.0.0.1:5672 is unreachable (ConnectionRefusedError):
    the bot answers without it; events are kept (up to 100000) and sent when it is
    back; retrying every 5 s
    event broker: the connection to RabbitMQ at 127.0.0.1:5672 is lost
    (ConnectionResetError): the bot answers without it; events are kept ...
    event broker: RabbitMQ at 127.0.0.1:5672 is back: sending 12 kept events
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Callable, Dict, Optional
from urllib.parse import urlparse

from shopbot_rasa.patches.expected import require_rasa

logger = logging.getLogger(__name__)

#: Seconds one connection attempt may take.
CONNECT_TIMEOUT_S = 5.0
#: Seconds RabbitMQ may take to confirm one event before it counts as away.
PUBLISH_TIMEOUT_S = 10.0
#: Events kept in memory while RabbitMQ is away; beyond, the oldest are dropped.
MAX_KEPT_EVENTS = 100_000
#: SHA-256 (first 16 hex digits) of the source of the ``PikaEventBroker``
#: methods the patch replaces or relies on.
EXPECTED_SOURCES = {
    "from_endpoint_config": "b53f3be0dba77a1c",
    "connect": "8a66ba6cd694cede",
    "_publish": "9f76ab9c1448db88",
    "_publish_unpublished_messages": "575374988db3744c",
    "close": "2e8756c648e3b7b1",
}
#: Marks the patched class (``install`` is idempotent).
_MARK = "_shopbot_event_broker"


def _check_rasa() -> None:
    """Raise :class:`PatchMismatchError` unless Rasa's code is the expected one."""
    from rasa.core.brokers.pika import PikaEventBroker

    functions = {name: getattr(PikaEventBroker, name, None) for name in EXPECTED_SOURCES}
    require_rasa("event_broker", functions, EXPECTED_SOURCES)


def address(broker: Any) -> str:
    """Return ``host:port`` of the broker's RabbitMQ, without credentials."""
    host = str(broker.host)
    if host.startswith("amqp"):
        parsed = urlparse(host)
        return f"{parsed.hostname or ''}:{parsed.port or broker.port}"
    return f"{host}:{broker.port}"


def _state(broker: Any) -> Dict[str, Any]:
    """The patch's own state on a broker (created on first use)."""
    state: Optional[Dict[str, Any]] = getattr(broker, "_shopbot", None)
    if state is None:
        state = {"down": False, "dropped": 0, "closing": False, "retry": None}
        broker._shopbot = state
    return state


def _went_down(broker: Any, error: Optional[BaseException], lost: bool) -> None:
    """Log the start of an outage, once."""
    state = _state(broker)
    if state["down"] or state["closing"]:
        return
    state["down"] = True
    state["dropped"] = 0
    what = (
        f"the connection to RabbitMQ at {address(broker)} is lost"
        if lost
        else f"RabbitMQ at {address(broker)} is unreachable"
    )
    logger.error(
        "event broker: %s (%s): the bot answers without it; events are kept (up to %s) "
        "and sent when it is back",
        what,
        type(error).__name__ if error is not None else "closed",
        MAX_KEPT_EVENTS,
    )


def _came_back(broker: Any) -> None:
    """Log the end of an outage and send the kept events."""
    state = _state(broker)
    kept = len(broker._unpublished_events)
    if state["down"]:
        state["down"] = False
        dropped = f" ({state['dropped']} older ones were dropped)" if state["dropped"] else ""
        logger.info(
            "event broker: RabbitMQ at %s is back: sending %s kept events%s",
            address(broker),
            kept,
            dropped,
        )
    broker._publish_unpublished_messages()


def _keep(broker: Any, event: Dict[str, Any]) -> None:
    """Keep an event to send later, dropping the oldest beyond :data:`MAX_KEPT_EVENTS`."""
    if not broker.should_keep_unpublished_messages:
        return
    kept = broker._unpublished_events
    if len(kept) >= MAX_KEPT_EVENTS:
        kept.popleft()
        state = _state(broker)
        if state["dropped"] == 0:
            logger.error(
                "event broker: more than %s events kept while RabbitMQ at %s is away: "
                "dropping the oldest",
                MAX_KEPT_EVENTS,
                address(broker),
            )
        state["dropped"] += 1
    kept.append(event)


async def _connect_once(broker: Any) -> None:
    """Connect with Rasa's own ``connect``, one attempt, then watch the connection.

    Raises:
        Exception: The attempt failed (the half-open connection is closed).
    """
    attempts, delay = broker._connection_attempts, broker._retry_delay_in_seconds
    broker._connection_attempts, broker._retry_delay_in_seconds = 1, 0
    try:
        await asyncio.wait_for(broker.connect(), CONNECT_TIMEOUT_S)
    except BaseException:
        connection, broker._connection, broker._exchange = broker._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
        raise
    finally:
        broker._connection_attempts, broker._retry_delay_in_seconds = attempts, delay
    connection = broker._connection
    # Ours sends the kept events after saying how many (the collection has no order).
    connection.reconnect_callbacks.discard(broker._publish_unpublished_messages)
    connection.close_callbacks.add(lambda sender, error=None: _went_down(broker, error, lost=True))
    connection.reconnect_callbacks.add(lambda sender: _came_back(broker))


async def _keep_connecting(broker: Any) -> None:
    """Try to connect every ``retry_delay_in_seconds`` until it works; then send."""
    while True:
        await asyncio.sleep(max(0.5, float(broker._retry_delay_in_seconds)))
        try:
            await _connect_once(broker)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure means: try again
            logger.debug("event broker: connecting failed again (%s)", type(error).__name__)
            continue
        _came_back(broker)
        return


async def from_endpoint_config(
    cls: Any, broker_config: Any, event_loop: Optional[asyncio.AbstractEventLoop] = None
) -> Any:
    """Create the broker; connect now or, when RabbitMQ is away, in the background."""
    if broker_config is None:
        return None
    broker = cls(broker_config.url, **broker_config.kwargs, event_loop=event_loop)
    try:
        await _connect_once(broker)
    except Exception as error:  # noqa: BLE001 - whatever it is, serve without it
        _went_down(broker, error, lost=False)
        logger.info(
            "event broker: connecting to RabbitMQ at %s every %s s in the background",
            address(broker),
            broker._retry_delay_in_seconds,
        )
        _state(broker)["retry"] = broker._loop.create_task(_keep_connecting(broker))
    return broker


def _connected(broker: Any) -> bool:
    """Whether the broker has a live connection and its exchange (not reconnecting)."""
    connection = broker._connection
    return (
        broker._exchange is not None
        and connection is not None
        and connection.connected.is_set()
        and not connection.is_closed
    )


async def _publish(
    self: Any, event: Dict[str, Any], headers: Optional[Dict[str, str]] = None
) -> None:
    """Publish one event, or keep it while RabbitMQ is away.

    An event whose publication fails or is not confirmed within
    :data:`PUBLISH_TIMEOUT_S` is kept and sent again after the outage (it may
    then arrive twice: delivery is at least once).
    """
    if not _connected(self):
        _keep(self, event)
        return
    try:
        await asyncio.wait_for(
            self._exchange.publish(self._message(event, headers), ""), PUBLISH_TIMEOUT_S
        )
    except Exception as error:
        _keep(self, event)
        _went_down(self, error, lost=True)
        if self.raise_on_failure:
            raise


def _wrap_close(close: Callable[[Any], Any]) -> Callable[[Any], Any]:
    async def close_quietly(self: Any) -> None:
        state = _state(self)
        state["closing"] = True
        retry = state["retry"]
        if retry is not None:
            retry.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await retry
        await close(self)

    setattr(close_quietly, _MARK, True)
    return close_quietly


class _RetryNoise(logging.Filter):
    """Drops Rasa's own error line of each failed connection attempt (ours say it once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not (message.startswith("Connecting to '") and "failed with error" in message)


def install() -> None:
    """Make Rasa's pika event broker survive RabbitMQ outages (idempotent).

    Raises:
        PatchMismatchError: Rasa is not the release, or its code not the one,
            the patch was written for.
    """
    from rasa.core.brokers.pika import PikaEventBroker

    if getattr(PikaEventBroker, _MARK, False):
        return
    _check_rasa()
    PikaEventBroker.from_endpoint_config = classmethod(from_endpoint_config)  # type: ignore[assignment]
    PikaEventBroker._publish = _publish  # type: ignore[method-assign]
    PikaEventBroker.close = _wrap_close(PikaEventBroker.close)  # type: ignore[method-assign]
    pika_logger = logging.getLogger("rasa.core.brokers.pika")
    if not any(isinstance(f, _RetryNoise) for f in pika_logger.filters):
        pika_logger.addFilter(_RetryNoise())
    setattr(PikaEventBroker, _MARK, True)
