"""shopbot's channels on a real Sanic server, over a real Rasa tracker store.

:class:`ChannelServer` builds the app as ``rasa run`` does
(:func:`rasa.core.run.configure_app` registers the channels of
``credentials.yml`` under ``/webhooks/``) and serves it from a thread, so
requests go through Sanic's HTTP parsing, routing and JSON answers. Only the
agent is a stand-in: :class:`FakeAgent` records each message and writes it,
with one bot answer, to a real tracker store (Rasa's ``SQLTrackerStore``: an
SQLite file, or PostgreSQL as in production), as Rasa's message processor
does. :class:`FakeImWorker` plays the IM worker's ``/inbox`` (stores each
``msg_id`` once).
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Sequence

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.run import configure_app
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Sanic

from bot.im_protocol import InboundMessage, SignatureError, parse_inbound, verify
from bot.settings import PROJECT_ROOT

#: The bot's answer to every message.
ANSWER = "亲，收到"


def load_domain() -> Domain:
    """Return the project's domain."""
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))


class FakeAgent:
    """Rasa's agent as the channels see it: a tracker store, a domain and
    ``handle_message``, which records the message and stores it with one bot
    answer (sent through the channel's output) in the tracker store.

    Attributes:
        received: Every message that reached the agent, in order.
    """

    def __init__(self, tracker_store: TrackerStore, domain: Domain) -> None:
        self.tracker_store = tracker_store
        self.domain = domain
        self.received: List[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        """Process one message as Rasa's message processor would (no NLU, one answer)."""
        self.received.append(message)
        tracker = await self.tracker_store.get_or_create_tracker(message.sender_id)
        tracker.update(
            UserUttered(
                message.text,
                intent={"name": "greet", "confidence": 1.0},
                metadata=message.metadata,
                input_channel=message.input_channel,
            )
        )
        await message.output_channel.send_text_message(message.sender_id, ANSWER)
        tracker.update(BotUttered(ANSWER))
        await self.tracker_store.save(tracker)


class ChannelServer:
    """Rasa's Sanic app with ``channels``, served on 127.0.0.1 from a thread.

    Args:
        channels: The input channels (as ``credentials.yml`` lists them).
        agent: What ``app.ctx.agent`` is.
    """

    def __init__(self, channels: Sequence[InputChannel], agent: FakeAgent) -> None:
        Sanic.test_mode = True  # one app name, several apps in one process
        self.agent = agent
        self.app = configure_app(
            input_channels=list(channels), enable_api=False, route="/webhooks/", use_uvloop=False
        )
        self.app.ctx.agent = agent
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: Any = None
        self._thread = threading.Thread(target=self._serve, name="sanic", daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            self.app.create_server(
                host="127.0.0.1", port=0, return_asyncio_server=True, access_log=False
            )
        )
        self._loop.run_until_complete(self._server.startup())
        self._loop.run_until_complete(self._server.before_start())
        self._loop.run_until_complete(self._server.after_start())
        port = self._server.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> ChannelServer:
        """Start serving; return once the server listens."""
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the Sanic server did not start")
        return self

    def stop(self) -> None:
        """Stop serving and end the thread."""

        async def close() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


class FakeImWorker:
    """The IM worker's ``POST /inbox``: checks the signature, stores each ``msg_id`` once.

    Attributes:
        url: Where it listens.
        stored: The messages stored, in order (one per ``msg_id``).
        down: While True, every hand-over is answered 503.
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.stored: List[InboundMessage] = []
        self.down = False
        self._lock = threading.Lock()
        worker = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = worker.accept(dict(self.headers.items()), body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def accept(self, headers: Dict[str, str], body: bytes) -> tuple[int, Dict[str, str]]:
        """Answer one hand-over as the worker does."""
        if self.down:
            return 503, {"error": "unavailable"}
        try:
            verify(self.secret, headers, body)
        except SignatureError as exc:
            return 401, {"error": f"signature_{exc.reason}"}
        message, problem = parse_inbound(body, marks=True)
        if message is None:
            return 400, {"error": problem or "invalid_body"}
        with self._lock:
            if any(m.msg_id == message.msg_id for m in self.stored):
                return 200, {"status": "duplicate"}
            self.stored.append(message)
        return 200, {"status": "accepted"}

    def find(self, msg_id: str) -> Optional[InboundMessage]:
        """Return the stored message ``msg_id``, if any."""
        with self._lock:
            return next((m for m in self.stored if m.msg_id == msg_id), None)

    def stop(self) -> None:
        """Stop listening."""
        self._http.shutdown()
        self._http.server_close()
