"""The agent's handoff routes: the queue, replies to the buyer, release to the bot.

Routes (agent token, like every ``/assist`` route):
    GET  /assist/handoffs[?limit=N]         open handoffs, oldest first, with summaries
    POST /assist/handoffs/{id}/release      the bot answers the conversation again
    POST /assist/handoffs/{id}/reply        ``{"text"}`` to the buyer, through the channel

Release first resumes the Rasa conversation (a ``resume`` event), then marks
the handoff released: when Rasa is down the answer is 502 and nothing
changed; when the database fails after Rasa resumed, the handoff is still
open and the agent's retry resumes again (harmless) and releases it.
Releasing a released handoff answers 200 and changes nothing.

A reply goes where the buyer is: an ``im`` conversation's through the IM
outbox (signed delivery to ``SHOPBOT_IM_CALLBACK_URL``, ``reply_to`` null);
a ``shop`` conversation's as a ``bot`` event on Rasa's tracker (metadata
``{"agent": true}``), which the web widget fetches from the shop channel's
``GET /webhooks/shop/history``. The text is clipped like any message
(:func:`bot.messages.clip_message`); an empty one is refused (400).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Literal, Optional

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.assist.handoff_api import (
    ReleaseOut,
    ReleaseRequest,
    ReplyOut,
    ReplyRequest,
    handoff_out,
)
from bot.assist.http import Handler, error, read_body
from bot.assist.rasa import RasaClient, RasaUnavailableError
from bot.handoffs import (
    MAX_ID,
    MAX_LIMIT,
    HandoffView,
    get_handoff,
    open_handoffs,
    release_handoff,
)
from bot.im_protocol import platform_conversation
from bot.messages import clip_message
from bot.outbox import enqueue
from bot.settings import Settings

logger = logging.getLogger(__name__)

#: Metadata of the bot events and IM messages that carry an agent's words.
AGENT_METADATA: Dict[str, Any] = {"agent": True}


def _handoff_id(request: Request) -> Optional[int]:
    value = request.path_params.get("handoff_id")
    return value if isinstance(value, int) and 1 <= value <= MAX_ID else None


def _not_found() -> JSONResponse:
    return error(404, "handoff_not_found", "no such handoff")


def _rasa_down(exc: RasaUnavailableError) -> JSONResponse:
    return error(502, "rasa_unavailable", f"the conversation was not changed: {exc}")


def _limit(request: Request) -> Optional[int]:
    raw = request.query_params.get("limit")
    if raw is None:
        return 50
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        return None
    return int(raw)


def handoff_routes(
    settings: Settings, rasa: RasaClient, guarded: Callable[[Handler], Handler]
) -> List[Route]:
    """Return the handoff routes.

    Args:
        settings: Database, IM channel settings.
        rasa: The Rasa client (its one write appends the events).
        guarded: Wraps a handler with the agent token check.
    """

    async def handoff(request: Request) -> HandoffView | JSONResponse:
        handoff_id = _handoff_id(request)
        found = await run_in_threadpool(get_handoff, settings, handoff_id) if handoff_id else None
        return found if found is not None else _not_found()

    async def queue(request: Request) -> Response:
        limit = _limit(request)
        if limit is None:
            return error(
                422, "invalid_limit", f"limit must be a whole number from 1 to {MAX_LIMIT}"
            )
        views = await run_in_threadpool(open_handoffs, settings, limit)
        return JSONResponse({"handoffs": [handoff_out(v).model_dump(mode="json") for v in views]})

    async def release(request: Request) -> Response:
        agent = "agent"
        if (await request.body()).strip():
            body = await read_body(request, ReleaseRequest)
            if isinstance(body, JSONResponse):
                return body
            agent = body.agent
        found = await handoff(request)
        if isinstance(found, JSONResponse):
            return found
        if found.status != "open":
            return JSONResponse(
                ReleaseOut(handoff=handoff_out(found), resumed=False).model_dump(mode="json")
            )
        try:
            await rasa.append_event(found.conversation_id, {"event": "resume"})
        except RasaUnavailableError as exc:
            return _rasa_down(exc)
        released = await run_in_threadpool(release_handoff, settings, found.id, agent)
        if released is None:  # pragma: no cover - handoffs are never deleted
            return _not_found()
        return JSONResponse(
            ReleaseOut(handoff=handoff_out(released), resumed=True).model_dump(mode="json")
        )

    async def reply(request: Request) -> Response:
        body = await read_body(request, ReplyRequest)
        if isinstance(body, JSONResponse):
            return body
        text = clip_message(body.text).strip()
        if not text:
            return error(400, "empty_text", "the reply is empty")
        found = await handoff(request)
        if isinstance(found, JSONResponse):
            return found
        if found.status != "open":
            return error(409, "handoff_released", "the bot answers this conversation again")
        if found.channel == "im":
            conversation = platform_conversation(found.conversation_id)
            if not settings.im_enabled or conversation is None:
                return error(503, "im_channel_off", "the IM channel is not configured")
            message = {
                "recipient_id": found.conversation_id,
                "text": text,
                "custom": AGENT_METADATA,
            }
            await run_in_threadpool(enqueue, settings.db_url, conversation, [message])
            delivery: Literal["im_outbox", "shop_tracker"] = "im_outbox"
        else:
            event = {"event": "bot", "text": text, "metadata": AGENT_METADATA}
            try:
                await rasa.append_event(found.conversation_id, event)
            except RasaUnavailableError as exc:
                return _rasa_down(exc)
            delivery = "shop_tracker"
        logger.info("agent reply to handoff %s sent via %s", found.id, delivery)
        channel = handoff_out(found).channel
        answer = ReplyOut(handoff_id=found.id, channel=channel, text=text, delivery=delivery)
        return JSONResponse(answer.model_dump(mode="json"))

    return [
        Route("/assist/handoffs", guarded(queue), methods=["GET"]),
        Route("/assist/handoffs/{handoff_id:int}/release", guarded(release), methods=["POST"]),
        Route("/assist/handoffs/{handoff_id:int}/reply", guarded(reply), methods=["POST"]),
    ]


__all__ = ["AGENT_METADATA", "handoff_routes"]
