"""The IM worker: stores inbound IM messages, gets answers, delivers replies.

One process (Python 3.11, the bot environment) that owns the IM channel's
queues (:mod:`bot.outbox`):

* ``POST /inbox``: the Rasa-side ``im`` channel hands over a verified
  platform message, signed with the IM secret, with its rate-limit mark when
  the buyer is over the limit; it is stored once per ``msg_id`` and
  acknowledged (``{"status": "accepted" | "duplicate"}``).
* a processing loop asks the Rasa server for the answer of each stored
  message (``POST /webhooks/im/process``), one at a time per conversation,
  and queues the reply in the outbox in the same transaction;
* a delivery loop POSTs each reply, signed, to ``SHOPBOT_IM_CALLBACK_URL``,
  in order per conversation, retried with exponential backoff until the
  platform answers 2xx;
* ``GET /health``: ``{"status": "ok", "pending": {...}}``.

Everything is in the database, so a restart loses nothing: the next worker
picks up what was pending (rows leased by a dead worker after their lease).
SIGTERM stops it after the attempt under way.

While the database is unreachable the worker keeps running: ``/inbox`` and
``/health`` answer 503 ``{"error": "database_unavailable"}`` (the channel
then answers the platform 503, and the platform retries), each loop logs
the outage once and tries again every ``poll_s``, and logs when the
database is back; nothing needs restarting.

Command line: ``python -m bot.im_worker [--host H] [--port P]`` (the port of
``SHOPBOT_IM_WORKER_URL`` by default).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import uuid
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Type
from urllib.parse import urlsplit

import httpx
from sqlalchemy.exc import SQLAlchemyError

from bot.db.migrate import upgrade
from bot.db.session import UNAVAILABLE, database_label, unavailable_reason
from bot.im_protocol import (
    MAX_BODY_BYTES,
    InboundMessage,
    SignatureError,
    parse_inbound,
    signed_headers,
    verify,
)
from bot.messages import clip_message
from bot.outbox import Backoff, Queue, deliver_next, pending_counts, process_next, receive
from bot.settings import Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)

#: Seconds an idle loop waits before looking at its queue again.
POLL_S = 0.5
#: Seconds the Rasa server may take to answer one message.
RASA_TIMEOUT_S = 30.0
#: Seconds the platform may take to accept one reply.
PLATFORM_TIMEOUT_S = 10.0
#: Lease of a claimed row: longer than any single attempt.
LEASE_S = 2 * RASA_TIMEOUT_S


def worker_name() -> str:
    """Return a name for this worker, unique among live workers."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ImWorker:
    """The IM worker's state: its queues, HTTP clients and loops.

    Args:
        settings: IM secret and callback, Rasa URL, database, backoff.
        owner: The worker's name in the leases; a fresh one by default.
        poll_s: Seconds an idle loop sleeps.
    """

    def __init__(
        self, settings: Settings, owner: Optional[str] = None, poll_s: float = POLL_S
    ) -> None:
        if not settings.im_secret or not settings.im_callback_url:
            raise SettingsError("the IM worker needs SHOPBOT_IM_SECRET and SHOPBOT_IM_CALLBACK_URL")
        self.settings = settings
        self.secret: str = settings.im_secret
        self.callback_url: str = settings.im_callback_url
        self.queue = Queue(
            url=settings.db_url,
            owner=owner or worker_name(),
            lease_s=LEASE_S,
            backoff=Backoff(*settings.im_backoff),
        )
        self.poll_s = poll_s
        self.stopping = threading.Event()
        self.inbox_signal = threading.Event()
        self.outbox_signal = threading.Event()
        self._rasa = httpx.Client()
        self._platform = httpx.Client()
        self._threads: List[threading.Thread] = []
        #: The loops that found the database unreachable and have not reached it since.
        self._database_down: Set[str] = set()

    # -- the three kinds of work ------------------------------------------

    def accept(self, headers: Mapping[str, str], body: bytes) -> Tuple[int, Dict[str, str]]:
        """Handle the channel's hand-over of one message (``POST /inbox``).

        Returns:
            The HTTP status and the JSON answer.
        """
        try:
            verify(self.secret, headers, body)
        except SignatureError as exc:
            logger.info("im worker: refused a hand-over: signature %s", exc.reason)
            return 401, {"error": f"signature_{exc.reason}"}
        message, problem = parse_inbound(body, marks=True)
        if message is None:
            return 400, {"error": problem or "invalid_body"}
        # The channel clipped it already; whoever sent it, the inbox holds what
        # NLU may see (PostgreSQL refuses NUL characters in text).
        message = replace(message, text=clip_message(message.text))
        if not receive(self.queue.url, message):
            logger.info("im worker: message %s is a duplicate", message.msg_id)
            return 200, {"status": "duplicate"}
        self.inbox_signal.set()
        return 200, {"status": "accepted"}

    def ask_bot(self, message: InboundMessage) -> Tuple[int, Optional[List[Dict[str, Any]]]]:
        """Ask the Rasa server for the answer to ``message``.

        Returns:
            The HTTP status (0: no answer) and the bot's messages when the
            status is 200 and the body a JSON list.
        """
        body = message.to_json()
        try:
            reply = self._rasa.post(
                f"{self.settings.rasa_url}/webhooks/im/process",
                content=body,
                headers=signed_headers(self.secret, body),
                timeout=RASA_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            logger.info("im worker: the bot is unavailable (%s)", type(exc).__name__)
            return 0, None
        if reply.status_code != 200:
            return reply.status_code, None
        try:
            messages = reply.json()
        except ValueError:
            return 502, None
        if not isinstance(messages, list):
            return 502, None
        return 200, [m for m in messages if isinstance(m, dict)]

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST a signed reply; return the HTTP status, 0 when none came."""
        try:
            reply = self._platform.post(
                url, content=body, headers=dict(headers), timeout=PLATFORM_TIMEOUT_S
            )
        except httpx.HTTPError as exc:
            # Never log the URL: it may carry the platform's credential.
            logger.info("im worker: the platform is unreachable (%s)", type(exc).__name__)
            return 0
        return reply.status_code

    # -- loops ---------------------------------------------------------------

    def _loop(self, name: str, step: Callable[[], Optional[str]], wake: threading.Event) -> None:
        """Run ``step`` until stopped, sleeping when it finds nothing to do."""
        while not self.stopping.is_set():
            try:
                outcome = step()
            except UNAVAILABLE as exc:
                self._database_unavailable(name, exc)
                outcome = None
            except SQLAlchemyError as exc:
                logger.error("im worker: %s: database error (%s)", name, type(exc).__name__)
                outcome = None
            else:
                self._database_back(name)
            if outcome == "answered":
                self.outbox_signal.set()
            if outcome is None or outcome == "retry":
                wake.wait(self.poll_s)
                wake.clear()

    def _database_unavailable(self, loop: str, error: Exception) -> None:
        """Log that ``loop`` cannot reach the database, once per outage."""
        if loop in self._database_down:
            return
        self._database_down.add(loop)
        logger.error(
            "im worker: %s: the database (%s) is unavailable (%s); retrying every %.1f s",
            loop,
            database_label(self.queue.url),
            unavailable_reason(error),
            self.poll_s,
        )

    def _database_back(self, loop: str) -> None:
        """Log that ``loop`` reached the database again after an outage."""
        if loop in self._database_down:
            self._database_down.discard(loop)
            logger.info("im worker: %s: the database is reachable again", loop)

    def process_step(self) -> Optional[str]:
        """Answer one due inbound message (see :func:`bot.outbox.process_next`)."""
        return process_next(self.queue, self.ask_bot)

    def deliver_step(self) -> Optional[str]:
        """Deliver one due reply (see :func:`bot.outbox.deliver_next`)."""
        return deliver_next(self.queue, self.secret, self.callback_url, self.post)

    def start_loops(self) -> None:
        """Start the processing and delivery loops in background threads."""
        for name, step, wake in (
            ("processing", self.process_step, self.inbox_signal),
            ("delivery", self.deliver_step, self.outbox_signal),
        ):
            thread = threading.Thread(
                target=self._loop, args=(name, step, wake), name=f"im-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the loops after the attempt under way and close the client."""
        self.stopping.set()
        self.inbox_signal.set()
        self.outbox_signal.set()
        for thread in self._threads:
            thread.join(timeout=RASA_TIMEOUT_S + 5)
        self._rasa.close()
        self._platform.close()


def handler_class(worker: ImWorker) -> Type[BaseHTTPRequestHandler]:
    """Return the HTTP handler of ``worker``'s ``/inbox`` and ``/health``."""

    class ImWorkerHandler(BaseHTTPRequestHandler):
        """Serves the channel's hand-overs and the health check."""

        def do_POST(self) -> None:
            """Handle ``POST /inbox``."""
            if self.path != "/inbox":
                self._send(404, {"error": "not_found"})
                return
            try:
                length = int(self.headers.get("Content-Length") or "0")
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES:
                self._send(413, {"error": "body_too_large"})
                return
            body = self.rfile.read(length)
            try:
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, answer = worker.accept(headers, body)
            except UNAVAILABLE as exc:
                logger.error(
                    "im worker: cannot store a message: the database is unavailable (%s)",
                    unavailable_reason(exc),
                )
                status, answer = 503, {"error": "database_unavailable"}
            except SQLAlchemyError as exc:
                logger.error("im worker: cannot store a message (%s)", type(exc).__name__)
                status, answer = 503, {"error": "unavailable"}
            self._send(status, answer)

        def do_GET(self) -> None:
            """Handle ``GET /health`` (503 while the database is unreachable)."""
            if self.path != "/health":
                self._send(404, {"error": "not_found"})
                return
            try:
                pending = pending_counts(worker.queue.url)
            except UNAVAILABLE:
                self._send(503, {"status": "unavailable", "error": "database_unavailable"})
                return
            self._send(200, {"status": "ok", "pending": pending})

        def _send(self, status: int, answer: Mapping[str, Any]) -> None:
            payload = json.dumps(answer).encode("utf-8")
            self.send_response(HTTPStatus(status))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            """Log requests at debug level (no bodies, no headers)."""
            logger.debug("im worker: %s", format % args)

    return ImWorkerHandler


def serve(settings: Settings, host: str, port: int) -> int:
    """Run the worker until SIGTERM or SIGINT; return an exit code."""
    upgrade(settings.db_url)
    worker = ImWorker(settings)
    server = ThreadingHTTPServer((host, port), handler_class(worker))
    server.daemon_threads = True

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        worker.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker.start_loops()
    logger.info("im worker %s listening on %s:%s", worker.queue.owner, host, port)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        worker.stop()
    logger.info("im worker stopped; pending %s", pending_counts(settings.db_url))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the command line and run the worker."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings()
    default = urlsplit(settings.im_worker_url)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--host", default=default.hostname or "127.0.0.1")
    parser.add_argument("--port", type=int, default=default.port or 5056)
    args = parser.parse_args(argv)
    try:
        return serve(settings, args.host, args.port)
    except SettingsError as exc:
        print(f"im worker: {exc}", file=sys.stderr)
        return 2
    except UNAVAILABLE as exc:
        print(
            f"im worker: the database ({database_label(settings.db_url)}) is unavailable "
            f"({unavailable_reason(exc)}): not started",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
