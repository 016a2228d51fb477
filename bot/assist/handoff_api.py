"""The HTTP contract of the handoff routes: bodies, answers and their OpenAPI paths.

Kept apart from :mod:`bot.assist.api` (which merges :data:`HANDOFF_MODELS`
and :func:`handoff_paths` into the assistant's OpenAPI document), so that
the handoff routes change in one place.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional

from pydantic import BaseModel, Field

from bot.handoffs import MAX_ID, MAX_LIMIT, HandoffView
from bot.settings import SHOP_TZ

#: Longest agent reply accepted in a body (the buyer gets at most its last
#: 2,000 characters, like any message).
MAX_REPLY_BODY = 20_000


class HandoffOut(BaseModel):
    """A handed-off conversation and its case summary (times ISO 8601, China time)."""

    id: int
    conversation_id: str
    channel: Literal["shop", "im"]
    subject: str
    role: str
    reason: str
    status: Literal["open", "released"]
    order_id: Optional[str]
    problem: Optional[str]
    summary: Dict[str, Any]
    created_at: str
    released_at: Optional[str]
    released_by: Optional[str]


class HandoffQueueOut(BaseModel):
    """The open handoffs, oldest first (``GET /assist/handoffs``)."""

    handoffs: List[HandoffOut]


class ReleaseRequest(BaseModel):
    """``POST /assist/handoffs/{id}/release`` (the body is optional)."""

    agent: str = Field(
        default="agent", min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$"
    )


class ReleaseOut(BaseModel):
    """The answer of a release: the handoff, and whether this call resumed the bot."""

    handoff: HandoffOut
    resumed: bool


class ReplyRequest(BaseModel):
    """``POST /assist/handoffs/{id}/reply``: the agent's text for the buyer."""

    text: str = Field(max_length=MAX_REPLY_BODY)


class ReplyOut(BaseModel):
    """Where an agent's reply went.

    ``delivery`` is ``im_outbox`` (queued for the IM platform, delivered
    signed like the bot's replies) or ``shop_tracker`` (added to the
    conversation, where the web widget fetches it).
    """

    handoff_id: int
    channel: Literal["shop", "im"]
    text: str
    delivery: Literal["im_outbox", "shop_tracker"]


#: The models of the handoff routes, for the OpenAPI document's schemas.
HANDOFF_MODELS = (HandoffOut, HandoffQueueOut, ReleaseRequest, ReleaseOut, ReplyRequest, ReplyOut)


def handoff_out(view: HandoffView) -> HandoffOut:
    """Return a handoff as the API shows it."""
    return HandoffOut(
        id=view.id,
        conversation_id=view.conversation_id,
        channel="im" if view.channel == "im" else "shop",
        subject=view.subject,
        role=view.role,
        reason=view.reason,
        status="open" if view.status == "open" else "released",
        order_id=view.order_id,
        problem=view.problem,
        summary=view.summary,
        created_at=view.created_at.astimezone(SHOP_TZ).isoformat(),
        released_at=view.released_at.astimezone(SHOP_TZ).isoformat() if view.released_at else None,
        released_by=view.released_by,
    )


def _schema(name: str) -> Dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(name: str, description: str) -> Dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _schema(name)}}}


_ERRORS = {
    400: "The body is not JSON, or the reply is empty.",
    401: "No or a wrong agent token.",
    404: "No such handoff.",
    409: "The handoff was released: the bot answers this conversation again.",
    413: "The body is too large.",
    422: "The body or a parameter does not match the schema.",
    502: "Rasa did not take the change; nothing was changed, try again.",
    503: "The assistant is off, or the conversation's IM channel is off.",
}


def _errors(*codes: int) -> Dict[str, Any]:
    return {str(code): _answer("ErrorOut", _ERRORS[code]) for code in codes}


def handoff_paths() -> Dict[str, Any]:
    """Return the OpenAPI ``paths`` of the handoff routes."""
    secured: List[Dict[str, List[str]]] = [{"agentToken": []}]
    handoff_id = {
        "name": "handoff_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
    return {
        "/assist/handoffs": {
            "get": {
                "operationId": "handoffQueue",
                "summary": "The open handoffs, oldest first, with their case summaries",
                "security": secured,
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    }
                ],
                "responses": {
                    "200": _answer("HandoffQueueOut", "The queue."),
                    **_errors(401, 422, 503),
                },
            }
        },
        "/assist/handoffs/{handoff_id}/release": {
            "post": {
                "operationId": "releaseHandoff",
                "summary": "Give the conversation back to the bot (idempotent)",
                "security": secured,
                "parameters": [handoff_id],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _schema("ReleaseRequest")}},
                },
                "responses": {
                    "200": _answer("ReleaseOut", "Released."),
                    **_errors(400, 401, 404, 413, 422, 502, 503),
                },
            }
        },
        "/assist/handoffs/{handoff_id}/reply": {
            "post": {
                "operationId": "replyToHandoff",
                "summary": "Send the agent's text to the buyer through the conversation's channel",
                "security": secured,
                "parameters": [handoff_id],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _schema("ReplyRequest")}},
                },
                "responses": {
                    "200": _answer("ReplyOut", "Sent (IM: queued for delivery)."),
                    **_errors(400, 401, 404, 409, 413, 422, 502, 503),
                },
            }
        },
    }


__all__ = [
    "HANDOFF_MODELS",
    "MAX_REPLY_BODY",
    "HandoffOut",
    "HandoffQueueOut",
    "ReleaseOut",
    "ReleaseRequest",
    "ReplyOut",
    "ReplyRequest",
    "handoff_out",
    "handoff_paths",
]
