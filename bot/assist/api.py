"""The assistant's HTTP contract: request and answer bodies, and the OpenAPI document.

The pydantic models validate what comes in and shape what goes out; the
OpenAPI description (:func:`openapi_document`) is generated from the same
models, so the document cannot drift from the service.
"""

from __future__ import annotations

from typing import Annotated, Any, Dict, List, Literal, Optional

from pydantic import BaseModel, Field, StringConstraints
from pydantic.json_schema import models_json_schema

from bot.assist.handoff_api import HANDOFF_MODELS, handoff_paths
from bot.db.models import PARTY_ID_MAX_LENGTH, REQUEST_ID_MAX_LENGTH

#: Longest message accepted (NLU sees at most its last 2,000 characters).
MAX_BODY_MESSAGE = 20_000

#: An id: printable, no spaces or control characters.
PartyId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=PARTY_ID_MAX_LENGTH, pattern=r"^[^\s\x00-\x1f\x7f]+$"
    ),
]
RequestId = Annotated[
    str,
    StringConstraints(min_length=8, max_length=REQUEST_ID_MAX_LENGTH, pattern=r"^[A-Za-z0-9_-]+$"),
]
IntentName = Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]


class SuggestRequest(BaseModel):
    """``POST /assist/suggest``: the buyer's message an agent is answering."""

    conversation_id: PartyId
    buyer_id: PartyId
    message: Annotated[
        str, StringConstraints(min_length=1, max_length=MAX_BODY_MESSAGE, pattern=r"\S")
    ]
    order_id: Optional[
        Annotated[str, StringConstraints(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")]
    ] = None


class SuggestionOut(BaseModel):
    """One suggested reply."""

    text: str
    intent: str
    confidence: float = Field(ge=0, le=1)
    rule_ids: List[str]


class OrderOut(BaseModel):
    """The order the suggestions rest on (times ISO 8601 in China time)."""

    order_id: str
    shop_name: str
    product: str
    category: str
    status: str
    quantity: int
    price: str
    no_reason_return: bool
    free_shipping: bool
    paid_at: Optional[str]
    shipped_at: Optional[str]
    delivered_at: Optional[str]
    completed_at: Optional[str]
    courier: Optional[str]
    tracking_no: Optional[str]
    usage_term_days: Optional[int]


class SuggestResponse(BaseModel):
    """The answer of ``/assist/suggest``.

    ``decision`` is the rule engine's decision (``Decision.to_json``) for
    the intent of the first grounded suggestion; null without an order.
    """

    request_id: str
    intent: Optional[str]
    suggestions: List[SuggestionOut] = Field(max_length=3)
    order: Optional[OrderOut]
    decision: Optional[Dict[str, Any]]


class FeedbackRequest(BaseModel):
    """``POST /assist/feedback``: what the agent did with a suggestion set.

    ``rank`` names the suggestion (0: the best) of ``clicked`` and
    ``edited``; ``count`` is the set's size for ``shown``.
    """

    request_id: RequestId
    conversation_id: PartyId
    event: Literal["shown", "clicked", "edited", "ignored"]
    rank: Optional[int] = Field(default=None, ge=0, le=2)
    count: Optional[int] = Field(default=None, ge=0, le=3)
    intent: Optional[IntentName] = None


class FeedbackRecorded(BaseModel):
    """The answer of ``/assist/feedback``."""

    recorded: bool


class FiguresOut(BaseModel):
    """Coverage and acceptance of the suggestions (``GET /assist/figures``)."""

    shown: int
    with_suggestions: int
    accepted: int
    edited: int
    ignored: int
    coverage: Optional[float]
    acceptance: Optional[float]
    edit_rate: Optional[float]
    clicked_by_rank: Dict[str, int]


class TranscriptLineOut(BaseModel):
    """One message of the conversation."""

    role: Literal["buyer", "bot", "agent"]
    text: str
    at: Optional[str]
    intent: Optional[str]


class TranscriptOut(BaseModel):
    """A conversation's messages, read from Rasa's tracker."""

    conversation_id: str
    lines: List[TranscriptLineOut]


class ErrorOut(BaseModel):
    """An error: a code, an English message, and the invalid fields if any."""

    error: str
    message: str
    errors: Optional[List[Dict[str, Any]]] = None


_MODELS = (
    SuggestRequest,
    SuggestResponse,
    FeedbackRequest,
    FeedbackRecorded,
    FiguresOut,
    TranscriptOut,
    ErrorOut,
)


def _ref(model: type[BaseModel]) -> Dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> Dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*codes: int) -> Dict[str, Any]:
    texts = {
        400: "The body is not JSON.",
        401: "No or a wrong agent token.",
        404: "No such page.",
        413: "The body is too large.",
        422: "The body does not match the schema.",
        503: "The assistant is off, or Rasa is unavailable.",
    }
    return {str(code): _json(ErrorOut, texts[code]) for code in codes}


def openapi_document() -> Dict[str, Any]:
    """Return the OpenAPI 3.1 description of the assistant API."""
    _, schemas = models_json_schema(
        [(model, "validation") for model in (*_MODELS, *HANDOFF_MODELS)],
        ref_template="#/components/schemas/{model}",
    )
    secured: List[Dict[str, List[str]]] = [{"agentToken": []}]
    conversation = {
        "name": "conversation_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": PARTY_ID_MAX_LENGTH},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "shopbot agent assistant",
            "version": "1.0.0",
            "description": (
                "Suggested replies for human agents, grounded in the buyer's order and "
                "the after-sales rule table (read-only towards the buyer's conversation); "
                "the queue of conversations handed over to agents, their replies to the "
                "buyer and the release back to the bot."
            ),
        },
        "paths": {
            "/assist/suggest": {
                "post": {
                    "operationId": "suggest",
                    "summary": "Up to 3 suggested replies, best first, with order and decision",
                    "security": secured,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(SuggestRequest)}},
                    },
                    "responses": {
                        "200": _json(SuggestResponse, "The suggestions."),
                        **_errors(400, 401, 413, 422, 503),
                    },
                }
            },
            "/assist/feedback": {
                "post": {
                    "operationId": "feedback",
                    "summary": "Report a suggestion set shown, clicked, edited or ignored",
                    "security": secured,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(FeedbackRequest)}},
                    },
                    "responses": {
                        "200": _json(FeedbackRecorded, "Recorded."),
                        **_errors(400, 401, 413, 422, 503),
                    },
                }
            },
            "/assist/figures": {
                "get": {
                    "operationId": "figures",
                    "summary": "Coverage and acceptance of the suggestions",
                    "security": secured,
                    "responses": {
                        "200": _json(FiguresOut, "The figures."),
                        **_errors(401, 503),
                    },
                }
            },
            "/assist/conversations/{conversation_id}/transcript": {
                "get": {
                    "operationId": "transcript",
                    "summary": "A conversation's messages (read from Rasa's tracker)",
                    "security": secured,
                    "parameters": [conversation],
                    "responses": {
                        "200": _json(TranscriptOut, "The messages."),
                        **_errors(401, 404, 422, 503),
                    },
                }
            },
            **handoff_paths(),
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"agentToken": {"type": "http", "scheme": "bearer"}},
        },
    }
