"""The ``im`` channel: a store's instant-messaging platform, by signed webhook.

``POST /webhooks/im/webhook`` receives ``{"msg_id", "conversation_id",
"buyer_id", "text"}`` signed with ``SHOPBOT_IM_SECRET`` (see
:mod:`bot.im_protocol`). A bad signature or a timestamp more than 300 s off
is refused (401) and nothing is recorded; a malformed body gets 400 and an
error code. A valid message is clipped (:func:`clip_message`) and handed to
the IM worker (``python -m bot.im_worker``), which stores it durably and
de-duplicates it by ``msg_id``; then the platform gets its 200 at once. When
the worker cannot take it the answer is 503, so the platform retries and
nothing is lost.

The worker owns the database (inbox, outbox: Python 3.11 and SQLAlchemy 2,
which this Python 3.10 server does not load). It asks for the bot's answer
with ``POST /webhooks/im/process``, signed the same way: this runs the
message through Rasa as buyer ``buyer_id`` in conversation
``im:<conversation_id>`` and returns the bot's messages, which the worker
delivers to ``SHOPBOT_IM_CALLBACK_URL``. Asked twice about the same
``msg_id`` (the worker died before storing the answer), it answers from the
conversation's history instead of running the message again.

Each buyer (the platform's ``buyer_id``) may send ``SHOPBOT_RATE_LIMIT``
messages (:class:`BuyerRateLimit`). Beyond, the webhook still acknowledges
with 200 (the platform must not retry) and the worker still stores the
message (its retries stay duplicates), but the bot does not process it: the
first such message of a window is answered, through the worker and the
outbox like any reply, with the ``utter_rate_limited`` response of the
domain; the others get no reply. One log line per buyer and window says so.

Without ``SHOPBOT_IM_SECRET`` and ``SHOPBOT_IM_CALLBACK_URL`` the channel is
off: every route answers 404.

Credentials (``credentials.yml``)::

    shopbot_rasa.channels.im.ImInput: {}
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Tuple

import aiohttp
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.auth import Identity
from bot.im_protocol import (
    RATE_DROP,
    RATE_NOTICE,
    InboundMessage,
    SignatureError,
    parse_inbound,
    signed_headers,
    verify,
)
from bot.settings import Settings, load_settings
from shopbot_rasa.channels.history import bot_message
from shopbot_rasa.channels.identity import BindingRegistry, clip_message, im_sender_id
from shopbot_rasa.channels.output import ShopOutputChannel
from shopbot_rasa.channels.ratelimit import NoticeGate, RateLimiter
from shopbot_rasa.channels.shop import RATE_LIMITED_RESPONSE, domain_texts

logger = logging.getLogger(__name__)

#: Key of the IM entry in a user message's metadata (beside the identity's).
METADATA_KEY = "im"
#: Seconds the webhook waits for the worker to store a message.
HANDOFF_TIMEOUT_S = 5.0


def _error(status: int, code: str) -> HTTPResponse:
    return response.json({"error": code}, status=status)


class BuyerRateLimit:
    """The IM channel's per-buyer rate limit and its once-per-window notice.

    Args:
        limit: Messages a buyer may send per window (0: no limit).
        window_s: The window in seconds; also the least time between two
            notices to one buyer.
        clock: Monotonic clock in seconds (tests inject one).
    """

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._limiter = RateLimiter(limit, window_s, clock=clock)
        self._notices = NoticeGate(window_s, clock=clock)

    @staticmethod
    def _key(buyer_id: str) -> str:
        return f"buyer:{buyer_id}"

    def mark(self, buyer_id: str) -> Optional[str]:
        """Count one message of ``buyer_id``.

        Returns:
            None within the limit; beyond it :data:`~bot.im_protocol.RATE_NOTICE`
            for the first message of a window (the buyer is told) and
            :data:`~bot.im_protocol.RATE_DROP` for the others.
        """
        key = self._key(buyer_id)
        if self._limiter.acquire(key) == 0.0:
            return None
        return RATE_NOTICE if self._notices.take(key) else RATE_DROP

    def notice_not_sent(self, buyer_id: str) -> None:
        """Let the next message carry the notice (this one was not stored)."""
        self._notices.give_back(self._key(buyer_id))


def check_request(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: Optional[float] = None,
    marks: bool = False,
) -> Tuple[Optional[InboundMessage], int, str]:
    """Authenticate and validate a signed IM request.

    Args:
        secret: ``SHOPBOT_IM_SECRET``.
        headers: The request headers.
        body: The raw body.
        now: Unix time for the clock window (tests).
        marks: Keep the rate-limit mark (the worker's calls only; a
            platform's body never sets it).

    Returns:
        ``(message, 200, "ok")`` with the text clipped to the length NLU
        accepts (its end kept), else ``(None, status, error_code)``: 401 for
        a signature problem, 400 for a malformed body.
    """
    try:
        verify(secret, headers, body, now=now)
    except SignatureError as exc:
        return None, 401, f"signature_{exc.reason}"
    message, problem = parse_inbound(body, marks=marks)
    if message is None:
        return None, 400, problem or "invalid_body"
    return (
        InboundMessage(
            msg_id=message.msg_id,
            conversation_id=message.conversation_id,
            buyer_id=message.buyer_id,
            text=clip_message(message.text),
            rate_limit=message.rate_limit,
        ),
        200,
        "ok",
    )


async def webhook_answer(
    settings: Settings,
    headers: Mapping[str, str],
    body: bytes,
    hand_off: Callable[[InboundMessage], Awaitable[Optional[str]]],
    now: Optional[float] = None,
    limit: Optional[BuyerRateLimit] = None,
) -> Tuple[int, Dict[str, str]]:
    """Answer the platform's ``POST /webhooks/im/webhook``.

    Args:
        settings: The IM settings (channel off without them).
        headers: The request headers.
        body: The raw body.
        hand_off: Gives a verified message to the worker; returns
            ``accepted`` or ``duplicate``, None when the worker failed.
        now: Unix time for the clock window (tests).
        limit: The per-buyer rate limit; none when omitted. A message over
            it is handed over with its mark (the worker stores it and the
            bot never runs it) and acknowledged like any other.

    Returns:
        The HTTP status and JSON answer: 404 when the channel is off, 401 or
        400 (nothing handed over), 503 when the worker could not store it,
        else 200 with ``{"status": "accepted" | "duplicate"}``. The message's
        text is never part of the answer.
    """
    if not settings.im_enabled:
        return 404, {"error": "im_channel_off"}
    message, status, code = check_request(settings.im_secret or "", headers, body, now=now)
    if message is None:
        logger.info("im channel: refused a webhook call: %s", code)
        return status, {"error": code}
    mark = limit.mark(message.buyer_id) if limit is not None else None
    if mark is not None:
        message = replace(message, rate_limit=mark)
    outcome = await hand_off(message)
    if limit is not None and mark == RATE_NOTICE and outcome != "accepted":
        limit.notice_not_sent(message.buyer_id)
    if outcome is None:
        return 503, {"error": "unavailable"}
    if limit is not None and mark == RATE_NOTICE and outcome == "accepted":
        logger.info(
            "im channel: rate limit reached by buyer %s (%s messages per %.0f s): "
            "message %s and the next ones within the limit's window are acknowledged "
            "but not processed; the buyer gets utter_rate_limited once",
            message.buyer_id,
            limit.limit,
            limit.window_s,
            message.msg_id,
        )
    return 200, {"status": outcome}


def message_metadata(message: InboundMessage) -> Dict[str, Any]:
    """Return the metadata of the user message: the buyer and the ``msg_id``."""
    metadata: Dict[str, Any] = Identity(message.buyer_id, "buyer").as_metadata()
    metadata[METADATA_KEY] = {"msg_id": message.msg_id}
    return metadata


def answered_before(events: List[Any], msg_id: str, sender_id: str) -> Optional[List[Any]]:
    """Return the bot messages that answered ``msg_id``, if it was processed.

    Args:
        events: The conversation's events.
        msg_id: The platform's message id.
        sender_id: The conversation (the messages' ``recipient_id``).

    Returns:
        The bot messages after that user message (up to the next one), in the
        channel's output format, or None when the message is not in the
        history.
    """
    found = False
    messages: List[Any] = []
    for event in events:
        if getattr(event, "type_name", "") == "user":
            if found:
                break
            entry = (getattr(event, "metadata", None) or {}).get(METADATA_KEY)
            found = isinstance(entry, dict) and entry.get("msg_id") == msg_id
        elif found and getattr(event, "type_name", "") == "bot":
            messages.append(bot_message(event, sender_id))
    return messages if found else None


def rate_limit_reply(domain: Any, message: InboundMessage) -> List[Dict[str, Any]]:
    """Return the reply to a message over its buyer's rate limit (the bot never runs it).

    Args:
        domain: The model's domain (its ``utter_rate_limited`` response).
        message: The message, marked by the webhook.

    Returns:
        The first text of ``utter_rate_limited`` for a
        :data:`~bot.im_protocol.RATE_NOTICE` message, nothing otherwise.
    """
    if message.rate_limit != RATE_NOTICE:
        return []
    sender_id = im_sender_id(message.conversation_id)
    texts = domain_texts(domain, RATE_LIMITED_RESPONSE)
    return [{"recipient_id": sender_id, "text": text} for text in texts[:1]]


class ImInput(InputChannel):
    """Signed webhook of a store IM platform; replies go back asynchronously."""

    @classmethod
    def name(cls) -> str:
        """Return the channel's name, the URL prefix ``/webhooks/im``."""
        return "im"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """Create the channel; its settings come from the environment."""
        return cls()

    def __init__(self, settings: Optional[Settings] = None) -> None:
        """Create the channel.

        Args:
            settings: IM secret, callback and worker URL; read from the
                environment when omitted.
        """
        self._settings = settings if settings is not None else load_settings()
        self._bindings = BindingRegistry()
        self._limit = BuyerRateLimit(self._settings.rate_limit, self._settings.rate_window_s)

    async def _hand_off(self, message: InboundMessage) -> Optional[str]:
        """Give a message to the worker; return its status, None if it failed."""
        secret = self._settings.im_secret or ""
        body = message.to_json()
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=HANDOFF_TIMEOUT_S)
            ) as session:
                async with session.post(
                    f"{self._settings.im_worker_url}/inbox",
                    data=body,
                    headers=signed_headers(secret, body),
                ) as reply:
                    if reply.status != 200:
                        logger.error("im channel: the worker answered HTTP %s", reply.status)
                        return None
                    answer = await reply.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.error("im channel: the worker is unavailable (%s)", type(exc).__name__)
            return None
        status = answer.get("status") if isinstance(answer, dict) else None
        return status if isinstance(status, str) else None

    async def _process(
        self,
        request: Request,
        message: InboundMessage,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        """Run one message through the bot and return its messages."""
        sender_id = im_sender_id(message.conversation_id)
        identity = Identity(message.buyer_id, "buyer")
        tracker_store = request.app.ctx.agent.tracker_store
        if not await self._bindings.allows(tracker_store, sender_id, identity):
            return _error(403, "conversation_forbidden")
        if message.rate_limit is not None:
            return response.json(rate_limit_reply(request.app.ctx.agent.domain, message))
        tracker = await tracker_store.retrieve(sender_id)
        if tracker is not None:
            earlier = answered_before(list(tracker.events), message.msg_id, sender_id)
            if earlier is not None:
                logger.info("im channel: message %s was answered before", message.msg_id)
                return response.json(earlier)
        collector = ShopOutputChannel()
        try:
            await on_new_message(
                UserMessage(
                    message.text,
                    collector,
                    sender_id,
                    input_channel=self.name(),
                    metadata=message_metadata(message),
                )
            )
        except Exception:
            logger.exception("im channel: processing message %s failed", message.msg_id)
            return _error(503, "unavailable")
        self._bindings.bind(sender_id, identity)
        return response.json(collector.messages)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Return the Sanic blueprint serving the webhook and the worker's calls."""
        hook = Blueprint("im_webhook", __name__)
        settings = self._settings

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            if not settings.im_enabled:
                return _error(404, "im_channel_off")
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            status, answer = await webhook_answer(
                settings, request.headers, request.body or b"", self._hand_off, limit=self._limit
            )
            return response.json(answer, status=status)

        @hook.route("/process", methods=["POST"])
        async def process(request: Request) -> HTTPResponse:
            if not settings.im_enabled:
                return _error(404, "im_channel_off")
            message, status, code = check_request(
                settings.im_secret or "", request.headers, request.body or b"", marks=True
            )
            if message is None:
                logger.info("im channel: refused a process call: %s", code)
                return _error(status, code)
            return await self._process(request, message, on_new_message)

        return hook
