"""The assistant's HTTP contract: request and answer bodies, and the OpenAPI document.

The pydantic models validate what comes in and shape what goes out; the
OpenAPI description (:func:`openapi_document`) is generated from the same
models, so the document cannot drift from the service. The evidence routes
the same app serves (:mod:`bot.evidence_http`) are described by
:func:`evidence_paths` and merged into the document.
"""

from __future__ import annotations

from typing import Annotated, Any, Dict, List, Literal, Optional

from pydantic import BaseModel, Field, StringConstraints
from pydantic.json_schema import models_json_schema

from bot.assist.daily_routes import DAILY_MODELS, daily_paths
from bot.assist.handoff_api import HANDOFF_MODELS, handoff_paths
from bot.db.models import (
    EVIDENCE_ITEM_MAX_LENGTH,
    EVIDENCE_MIME_TYPES,
    PARTY_ID_MAX_LENGTH,
    REQUEST_ID_MAX_LENGTH,
)
from bot.evidence_http import CODES as EVIDENCE_CODES
from bot.evidence_http import MAX_FILE_ID, MAX_REFERENCE_LENGTH
from bot.evidence_http import STATUS as EVIDENCE_STATUS

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


class EvidenceChecklistEntryOut(BaseModel):
    """One item of the claim's evidence checklist, after an upload."""

    item: str
    ticked: bool


class EvidenceFileOut(BaseModel):
    """The stored photo, as the buyer's widget sees it."""

    claim_number: str
    order_id: str
    mime: str = Field(json_schema_extra={"enum": list(EVIDENCE_MIME_TYPES)})
    size: int = Field(ge=1)
    item: Optional[str]
    uploaded_at: str


class EvidenceUploadOut(BaseModel):
    """The answer of ``POST /evidence/upload``; ``file`` and ``checklist`` when stored.

    ``message`` is the Chinese text for the buyer (``bot/evidence_messages.yml``).
    """

    outcome: str = Field(json_schema_extra={"enum": list(EVIDENCE_CODES)})
    message: str
    file: Optional[EvidenceFileOut] = None
    checklist: Optional[List[EvidenceChecklistEntryOut]] = None


class EvidenceRecordOut(EvidenceFileOut):
    """A stored photo, as the agent console sees it (``id`` fetches the file)."""

    id: int
    stored_name: str
    sha256: str


class ClaimChecklistEntryOut(BaseModel):
    """One item of a claim's evidence checklist: how many photos tick it off."""

    item: str
    files: int = Field(ge=0)
    ticked: bool


class ClaimEvidenceOut(BaseModel):
    """A claim's evidence checklist and photos (``GET /evidence/orders/{order_id}``)."""

    claim_number: str
    status: str
    checklist: List[ClaimChecklistEntryOut]
    files: List[EvidenceRecordOut]


_MODELS = (
    SuggestRequest,
    SuggestResponse,
    FeedbackRequest,
    FeedbackRecorded,
    FiguresOut,
    TranscriptOut,
    ErrorOut,
)
#: The evidence routes' bodies (:func:`evidence_paths`).
_EVIDENCE_MODELS = (EvidenceUploadOut, ClaimEvidenceOut)


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


#: What each answer code of the upload means (``bot/evidence_http.STATUS``).
_UPLOAD_ANSWERS = {
    "ok": "Stored and attached to the open claim; the checklist after it.",
    "no_open_claim": "The buyer has no open claim on that order.",
    "bad_type": "The content is not a JPEG, PNG or WebP image.",
    "too_large": "The photo is over SHOPBOT_UPLOAD_MAX_BYTES.",
    "empty": "The body is empty.",
    "bad_item": "The checklist item is too long or not on the claim's checklist.",
    "unauthorized": "No, a bad or an expired buyer token.",
    "forbidden": "A browser origin not in SHOPBOT_CORS_ORIGINS, or not a buyer token.",
    "bad_request": "No or an overlong order reference.",
}


def _binary(*media_types: str) -> Dict[str, Any]:
    return {media: {"schema": {"type": "string", "format": "binary"}} for media in media_types}


def evidence_paths() -> Dict[str, Any]:
    """Return the OpenAPI paths of the evidence routes (:mod:`bot.evidence_http`).

    The upload is the buyer's (``buyerToken``: the shop channel's JWT); the
    two reads are the agent console's (``agentToken``).
    """
    by_status: Dict[int, List[str]] = {}
    for code, status in EVIDENCE_STATUS.items():
        by_status.setdefault(status, []).append(code)
    upload_answers = {
        str(status): _json(
            EvidenceUploadOut, " / ".join(f"{c}: {_UPLOAD_ANSWERS[c]}" for c in codes)
        )
        for status, codes in sorted(by_status.items())
    }
    agent: List[Dict[str, List[str]]] = [{"agentToken": []}]
    return {
        "/evidence/upload": {
            "post": {
                "operationId": "evidence_upload",
                "summary": "The buyer attaches a photo to the open claim on an order",
                "security": [{"buyerToken": []}],
                "parameters": [
                    {
                        "name": "order",
                        "in": "query",
                        "required": True,
                        "description": "The order id or the claim number (AS + order id).",
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_REFERENCE_LENGTH,
                        },
                    },
                    {
                        "name": "item",
                        "in": "query",
                        "required": False,
                        "description": "The checklist item the photo ticks off.",
                        "schema": {"type": "string", "maxLength": EVIDENCE_ITEM_MAX_LENGTH},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "description": "The photo itself; its type is read from the content.",
                    "content": _binary(*EVIDENCE_MIME_TYPES, "application/octet-stream"),
                },
                "responses": upload_answers,
            }
        },
        "/evidence/orders/{order_id}": {
            "get": {
                "operationId": "evidence_of_order",
                "summary": "The evidence checklist and photos of the claim on an order",
                "security": agent,
                "parameters": [
                    {
                        "name": "order_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                    }
                ],
                "responses": {
                    "200": _json(ClaimEvidenceOut, "The claim's checklist and photos."),
                    "404": _json(ErrorOut, "No claim on this order (or no such order)."),
                    **_errors(401, 503),
                },
            }
        },
        "/evidence/files/{file_id}": {
            "get": {
                "operationId": "evidence_file",
                "summary": "One evidence photo, with its stored type",
                "security": agent,
                "parameters": [
                    {
                        "name": "file_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_FILE_ID},
                    }
                ],
                "responses": {
                    "200": {"description": "The photo.", "content": _binary(*EVIDENCE_MIME_TYPES)},
                    "404": _json(ErrorOut, "No such photo."),
                    **_errors(401, 503),
                },
            }
        },
    }


def openapi_document() -> Dict[str, Any]:
    """Return the OpenAPI 3.1 description of the assistant API."""
    _, schemas = models_json_schema(
        [
            (model, "validation")
            for model in (*_MODELS, *HANDOFF_MODELS, *DAILY_MODELS, *_EVIDENCE_MODELS)
        ],
        ref_template="#/components/schemas/{model}",
    )
    secured: List[Dict[str, List[str]]] = [{"agentToken": []}]
    conversation = {
        "name": "conversation_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": PARTY_ID_MAX_LENGTH},
    }
    document: Dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "shopbot agent assistant",
            "version": "1.0.0",
            "description": (
                "Suggested replies for human agents, grounded in the buyer's order and "
                "the after-sales rule table (read-only towards the buyer's conversation); "
                "the queue of conversations handed over to agents, their replies to the "
                "buyer and the release back to the bot; the per-day figures of the "
                "conversations."
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
            **daily_paths(),
            **handoff_paths(),
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"agentToken": {"type": "http", "scheme": "bearer"}},
        },
    }
    document["paths"].update(evidence_paths())
    document["components"]["securitySchemes"]["buyerToken"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The buyer's token, as for the shop channel (bin/shopbot token).",
    }
    return document
