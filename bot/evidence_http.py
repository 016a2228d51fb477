"""HTTP endpoints of evidence photos: the buyer's upload and the agent's view.

Routes (served by the assistant's app, :mod:`bot.assist.app`):
    POST /evidence/upload?order=<order id or claim number>[&item=<item>]
        The body is the photo itself (any ``Content-Type``: the content is
        what counts), at most ``SHOPBOT_UPLOAD_MAX_BYTES``, read in chunks
        and abandoned as soon as it is over the limit. ``Authorization:
        Bearer <buyer JWT>`` as for the shop channel; browsers only from
        ``SHOPBOT_CORS_ORIGINS``. The answer is ``{"outcome", "message",
        "file", "checklist"}``, ``message`` the Chinese text of
        ``bot/evidence_messages.yml``.
    GET /evidence/orders/{order_id}     (agent token) the claim's checklist and photos
    GET /evidence/files/{file_id}       (agent token) one photo, with its stored type

No buyer-supplied text ever names a file: photos are stored and served under
generated names only.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from bot.auth import TokenError, bearer_token, verify_token
from bot.cors import cors_headers, origin_allowed
from bot.db.models import EVIDENCE_ITEM_MAX_LENGTH
from bot.evidence import BAD_ITEM, BAD_TYPE, EMPTY, NO_OPEN_CLAIM, OK, OUTCOMES, TOO_LARGE
from bot.services import AttachResult, EvidenceView, attach_evidence, claim_evidence, evidence_file
from bot.settings import Settings

logger = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]

#: The buyer-facing texts of every answer code.
MESSAGES_FILE = Path(__file__).resolve().parent / "evidence_messages.yml"
#: Answer codes of the endpoint beyond the service's outcomes.
UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
BAD_REQUEST = "bad_request"
CODES = (*OUTCOMES, UNAUTHORIZED, FORBIDDEN, BAD_REQUEST)
#: HTTP status of each answer code.
STATUS = {
    OK: 201,
    NO_OPEN_CLAIM: 404,
    BAD_TYPE: 415,
    TOO_LARGE: 413,
    EMPTY: 400,
    BAD_ITEM: 422,
    UNAUTHORIZED: 401,
    FORBIDDEN: 403,
    BAD_REQUEST: 400,
}
#: Longest order id or claim number accepted in the query.
MAX_REFERENCE_LENGTH = 64
#: Largest evidence file id looked up (a 32-bit integer column): beyond, 404.
MAX_FILE_ID = 2**31 - 1


class MessagesError(ValueError):
    """The messages file is missing a code or is not a mapping of texts."""


def load_messages(path: Path = MESSAGES_FILE) -> Dict[str, str]:
    """Read the buyer-facing texts and check that every code has one.

    Raises:
        MessagesError: The file is not a mapping of texts covering :data:`CODES`.
    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise MessagesError(f"{path}: expected a mapping of code to text")
    missing = [code for code in CODES if code not in raw]
    if missing:
        raise MessagesError(f"{path}: no text for {', '.join(missing)}")
    return {str(code): text for code, text in raw.items()}


@lru_cache(maxsize=1)
def cached_messages() -> Dict[str, str]:
    """Return the shipped messages, read once per process."""
    return load_messages()


async def read_capped(request: Request, limit: int) -> Optional[bytes]:
    """Read a request body of at most ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before reading;
    otherwise the body is read in chunks and abandoned as soon as it exceeds
    the limit, so an endless body never fills memory.

    Returns:
        The body, or None when it is over the limit.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: List[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def megabytes(size: int) -> str:
    """Return a size in MiB as the buyer reads it (``5``, ``1.5``)."""
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")


def _file_json(view: EvidenceView) -> Dict[str, Any]:
    data = asdict(view)
    data["uploaded_at"] = view.uploaded_at.isoformat()
    return data


def evidence_routes(
    settings: Settings,
    guarded: Callable[[Handler], Handler],
    messages: Optional[Mapping[str, str]] = None,
) -> List[Route]:
    """Return the evidence routes.

    Args:
        settings: Process settings (secret, origins, upload folder and limit).
        guarded: Wraps a handler so that it needs the agent token.
        messages: Texts per answer code; the shipped ones when omitted.

    Returns:
        The routes to add to the app.
    """
    texts = dict(messages) if messages is not None else cached_messages()
    origins = settings.cors_origins
    max_mb = megabytes(settings.upload_max_bytes)

    def answer(request: Request, code: str, result: Optional[AttachResult] = None) -> Response:
        body: Dict[str, Any] = {
            "outcome": code,
            "message": texts[code].replace("{max_mb}", max_mb),
        }
        if result is not None and result.file is not None:
            body["file"] = {
                key: value
                for key, value in _file_json(result.file).items()
                if key in ("claim_number", "order_id", "mime", "size", "item", "uploaded_at")
            }
            body["checklist"] = [
                {"item": entry.item, "ticked": entry.ticked} for entry in result.checklist
            ]
        headers = cors_headers(request.headers.get("origin"), origins, preflight=False)
        return JSONResponse(body, status_code=STATUS[code], headers=headers)

    async def preflight(request: Request) -> Response:
        headers = cors_headers(request.headers.get("origin"), origins, preflight=True)
        return Response(status_code=204, headers=headers)

    async def upload(request: Request) -> Response:
        if not origin_allowed(request.headers.get("origin"), origins):
            logger.info("evidence upload: refused a browser call from an unlisted origin")
            return answer(request, FORBIDDEN)
        try:
            identity = verify_token(
                settings.signing_secret(), bearer_token(request.headers.get("authorization"))
            )
        except TokenError as exc:
            logger.info("evidence upload: refused request, token %s", exc.reason)
            return answer(request, UNAUTHORIZED)
        if identity.role != "buyer":
            return answer(request, FORBIDDEN)
        reference = request.query_params.get("order", "").strip()
        item = request.query_params.get("item") or None
        if not reference or len(reference) > MAX_REFERENCE_LENGTH:
            return answer(request, BAD_REQUEST)
        if item is not None and len(item) > EVIDENCE_ITEM_MAX_LENGTH:
            return answer(request, BAD_ITEM)
        data = await read_capped(request, settings.upload_max_bytes)
        if data is None:
            logger.info("evidence upload: %s sent more than the limit", identity.subject)
            return answer(request, TOO_LARGE)
        result = await run_in_threadpool(
            attach_evidence, settings, identity.subject, reference, data, item
        )
        return answer(request, result.outcome, result)

    async def claim_files(request: Request) -> Response:
        found = await run_in_threadpool(claim_evidence, settings, request.path_params["order_id"])
        if found is None:
            return JSONResponse({"error": "not_found", "message": "no claim on this order"}, 404)
        return JSONResponse(
            {
                "claim_number": found.claim_number,
                "status": found.status,
                "checklist": [
                    {"item": e.item, "files": e.files, "ticked": e.ticked} for e in found.checklist
                ],
                "files": [_file_json(view) for view in found.files],
            }
        )

    async def one_file(request: Request) -> Response:
        file_id = request.path_params["file_id"]
        found = None
        if file_id <= MAX_FILE_ID:
            found = await run_in_threadpool(evidence_file, settings, file_id)
        if found is None:
            return JSONResponse({"error": "not_found", "message": "no such evidence file"}, 404)
        view, path = found
        headers = {
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f"inline; filename={view.stored_name}",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        }
        return FileResponse(path, media_type=view.mime, headers=headers)

    return [
        Route("/evidence/upload", preflight, methods=["OPTIONS"]),
        Route("/evidence/upload", upload, methods=["POST"]),
        Route("/evidence/orders/{order_id}", guarded(claim_files), methods=["GET"]),
        Route("/evidence/files/{file_id:int}", guarded(one_file), methods=["GET"]),
    ]


__all__ = [
    "CODES",
    "MAX_FILE_ID",
    "MAX_REFERENCE_LENGTH",
    "MESSAGES_FILE",
    "STATUS",
    "MessagesError",
    "cached_messages",
    "evidence_routes",
    "load_messages",
    "megabytes",
    "read_capped",
]
