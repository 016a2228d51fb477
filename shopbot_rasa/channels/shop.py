"""The ``shop`` channel: buyer and seller chat over HTTP with a JWT.

``POST /webhooks/shop/webhook`` with ``Authorization: Bearer <JWT>`` and a
body ``{"sender": "<conversation id>", "message": "<text>"}`` answers like
Rasa's REST channel: a JSON list of bot messages. See
``shared/spec/interfaces.md``.

Browsers may call it only from the shop origins in ``SHOPBOT_CORS_ORIGINS``
(see :mod:`bot.cors`); each identity may send
``SHOPBOT_RATE_LIMIT`` messages (429 with the polite ``utter_rate_limited``
answer beyond). ``GET /webhooks/shop/widget.js`` serves the web widget that a
shop embeds with one ``<script>`` tag (``web/widget/``).

Human handoff: while a conversation is handed off to a person (Rasa's tracker
paused), a buyer's message gets one message with the text of
``utter_handoff_waiting`` and ``custom: {"handoff": true, "waiting": true}``.
``GET /webhooks/shop/history?sender=<conversation id>&after=<unix seconds>``
(same JWT and origins as the webhook; only the conversation bound to that
identity, another's is 403) returns ``{"messages", "cursor", "paused"}``: the
bot messages after ``after`` (each with ``timestamp`` and ``agent``: true for
an agent's reply), from which the widget shows what the agent wrote.

Credentials (``credentials.yml``)::

    shopbot_rasa.channels.shop.ShopInput: {}
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.auth import Identity, TokenError, bearer_token, verify_token
from bot.cors import cors_headers, origin_allowed
from bot.settings import PROJECT_ROOT, Settings, load_settings
from shopbot_rasa.channels.history import history_answer, parse_after
from shopbot_rasa.channels.identity import (
    MAX_SENDER_LENGTH,
    BindingRegistry,
    clip_message,
    is_reserved_sender,
)
from shopbot_rasa.channels.output import ShopOutputChannel
from shopbot_rasa.channels.ratelimit import RateLimiter, retry_after_header

logger = logging.getLogger(__name__)

#: History requests one identity may make per message it may send (the
#: widget polls every 3 s while a person has the conversation).
HISTORY_POLLS_PER_MESSAGE = 4

#: Largest request body read, in bytes (a 2,000-character message is ~6 kB).
MAX_BODY_BYTES = 64 * 1024
#: The web widget's script, served at ``/webhooks/shop/widget.js``.
WIDGET_SCRIPT = PROJECT_ROOT / "web" / "widget" / "shopbot-widget.js"
#: The response a rate-limited identity gets (``domain.yml``).
RATE_LIMITED_RESPONSE = "utter_rate_limited"
#: The response a buyer gets while the conversation is handed off to a person.
HANDOFF_WAITING_RESPONSE = "utter_handoff_waiting"


def _error(status: int, code: str) -> HTTPResponse:
    return response.json({"error": code}, status=status)


def domain_texts(domain: Any, name: str) -> List[str]:
    """Return the texts of a ``domain.yml`` response (empty when absent)."""
    variants = getattr(domain, "responses", {}).get(name) or []
    return [v["text"] for v in variants if isinstance(v, dict) and v.get("text")]


def waiting_messages(domain: Any, sender_id: str) -> List[Dict[str, Any]]:
    """Return the answer to a message in a handed-off (paused) conversation.

    One message with the text of :data:`HANDOFF_WAITING_RESPONSE` (none while
    ``domain.yml`` lacks it) and ``custom: {"handoff": true, "waiting":
    true}``, so that the web widget keeps fetching the agent's replies.
    """
    message: Dict[str, Any] = {
        "recipient_id": sender_id,
        "custom": {"handoff": True, "waiting": True},
    }
    texts = domain_texts(domain, HANDOFF_WAITING_RESPONSE)
    if texts:
        message["text"] = texts[0]
    return [message]


def check_sender(raw: Any) -> Optional[str]:
    """Return a valid conversation id of this channel, or None.

    1 to :data:`MAX_SENDER_LENGTH` printable characters once trimmed (as the
    IM channel's ids), not in the ``im`` channel's namespace: the tracker
    stores cannot hold NUL (PostgreSQL) or lone surrogates (UTF-8), which
    would fail the message with a 503 instead of refusing it.
    """
    if not isinstance(raw, str) or not raw.strip():
        return None
    sender = raw.strip()
    if len(sender) > MAX_SENDER_LENGTH or is_reserved_sender(sender):
        return None
    return sender if sender.isprintable() else None


def parse_body(raw: bytes) -> Tuple[Optional[Tuple[str, str]], Optional[str]]:
    """Validate a webhook body.

    Args:
        raw: The request body.

    Returns:
        ``((sender, message), None)`` when valid, else ``(None, error_code)``.
    """
    if len(raw) > MAX_BODY_BYTES:
        return None, "body_too_large"
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # deep nesting: RecursionError
        return None, "invalid_json"
    if not isinstance(body, dict):
        return None, "invalid_body"
    sender, message = check_sender(body.get("sender")), body.get("message")
    if sender is None:
        return None, "invalid_sender"
    if message is None:
        message = ""
    if not isinstance(message, str):
        return None, "invalid_message"
    return (sender, clip_message(message)), None


class ShopInput(InputChannel):
    """JWT-authenticated REST-style channel for buyers and sellers."""

    @classmethod
    def name(cls) -> str:
        """Return the channel's name, the URL prefix ``/webhooks/shop``."""
        return "shop"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """Create the channel; it has no credentials of its own."""
        return cls()

    def __init__(self, secret: Optional[str] = None, settings: Optional[Settings] = None) -> None:
        """Create the channel.

        Args:
            secret: The JWT secret; read from the settings when omitted.
            settings: CORS origins and rate limit; read from the environment
                when omitted.
        """
        settings = settings if settings is not None else load_settings()
        self._secret = secret if secret is not None else settings.signing_secret()
        self._bindings = BindingRegistry()
        self._origins = settings.cors_origins
        self._limiter = RateLimiter(settings.rate_limit, settings.rate_window_s)
        # A handed-off widget asks for the history every few seconds: its own
        # budget, a multiple of the message limit (off when that is off).
        self._history_limiter = RateLimiter(
            settings.rate_limit * HISTORY_POLLS_PER_MESSAGE, settings.rate_window_s
        )

    def _authenticate(self, request: Request) -> Identity:
        token = bearer_token(request.headers.get("Authorization"))
        return verify_token(self._secret, token)

    def _admit(
        self, request: Request, what: str
    ) -> Tuple[Optional[Identity], Optional[HTTPResponse]]:
        """Check the browser origin and the token; return the identity or the refusal.

        Args:
            request: The request.
            what: What is asked, for the log line (``request``, ``history request``).
        """
        if not origin_allowed(request.headers.get("Origin"), self._origins):
            logger.info("shop channel: refused a browser %s from an unlisted origin", what)
            return None, _error(403, "origin_forbidden")
        try:
            return self._authenticate(request), None
        except TokenError as exc:
            logger.info("shop channel: refused a %s, token %s", what, exc.reason)
            return None, _error(401, f"token_{exc.reason}")

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Return the Sanic blueprint serving the webhook."""
        hook = Blueprint("shop_webhook", __name__)

        @hook.middleware("response")
        async def add_cors(request: Request, reply: HTTPResponse) -> None:
            origin = request.headers.get("Origin")
            for name, value in cors_headers(
                origin, self._origins, request.method == "OPTIONS"
            ).items():
                reply.headers[name] = value

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/widget.js", methods=["GET"])
        async def widget(_: Request) -> HTTPResponse:
            return response.raw(
                WIDGET_SCRIPT.read_bytes(),
                content_type="application/javascript; charset=utf-8",
                headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
            )

        @hook.route("/webhook", methods=["OPTIONS"])
        async def preflight(_: Request) -> HTTPResponse:
            return response.empty()

        @hook.route("/history", methods=["OPTIONS"])
        async def history_preflight(_: Request) -> HTTPResponse:
            return response.empty()

        @hook.route("/history", methods=["GET"])
        async def history(request: Request) -> HTTPResponse:
            identity, refusal = self._admit(request, "history request")
            if identity is None:
                return refusal or _error(401, "token_invalid")
            wait_s = self._history_limiter.acquire(f"{identity.role}:{identity.subject}")
            if wait_s > 0:
                logger.info("shop channel: history rate limit reached by %s", identity.subject)
                return response.json(
                    {"error": "rate_limited"},
                    status=429,
                    headers={"Retry-After": retry_after_header(wait_s)},
                )
            sender_id = check_sender(request.args.get("sender"))
            if sender_id is None:
                return _error(400, "invalid_sender")
            after, valid = parse_after(request.args.get("after"))
            if not valid:
                return _error(400, "invalid_after")
            tracker_store = request.app.ctx.agent.tracker_store
            owner = await self._bindings.owner(tracker_store, sender_id)
            if owner is None:
                return response.json(history_answer([], sender_id, after, paused=False))
            if owner != identity:
                logger.warning(
                    "shop channel: history of %s refused to %s %s",
                    sender_id,
                    identity.role,
                    identity.subject,
                )
                return _error(403, "conversation_forbidden")
            tracker = await tracker_store.retrieve(sender_id)
            events = list(tracker.events) if tracker is not None else []
            paused = bool(tracker is not None and tracker.is_paused())
            return response.json(history_answer(events, sender_id, after, paused))

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            identity, refusal = self._admit(request, "request")
            if identity is None:
                return refusal or _error(401, "token_invalid")
            parsed, problem = parse_body(request.body or b"")
            if parsed is None:
                logger.info("shop channel: bad request from %s: %s", identity.subject, problem)
                return _error(400, problem or "invalid_body")
            sender_id, text = parsed
            tracker_store = request.app.ctx.agent.tracker_store
            if not await self._bindings.allows(tracker_store, sender_id, identity):
                return _error(403, "conversation_forbidden")
            wait_s = self._limiter.acquire(f"{identity.role}:{identity.subject}")
            if wait_s > 0:
                logger.info("shop channel: rate limit reached by %s", identity.subject)
                texts = domain_texts(request.app.ctx.agent.domain, RATE_LIMITED_RESPONSE)
                return response.json(
                    [{"recipient_id": sender_id, "text": text} for text in texts[:1]],
                    status=429,
                    headers={"Retry-After": retry_after_header(wait_s)},
                )
            collector = ShopOutputChannel()
            try:
                await on_new_message(
                    UserMessage(
                        text,
                        collector,
                        sender_id,
                        input_channel=self.name(),
                        metadata=identity.as_metadata(),
                    )
                )
            except Exception:
                logger.exception("shop channel: processing a message of %s failed", sender_id)
                return _error(503, "unavailable")
            self._bindings.bind(sender_id, identity)
            if not collector.messages:
                tracker = await tracker_store.retrieve(sender_id)
                if tracker is not None and tracker.is_paused():
                    # Handed off to a person: Rasa logged the message and
                    # stays silent; the buyer learns that someone will answer.
                    domain = request.app.ctx.agent.domain
                    return response.json(waiting_messages(domain, sender_id))
            return response.json(collector.messages)

        return hook
