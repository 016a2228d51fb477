"""HTTP helpers of the assistant's routes: JSON errors, the agent token, bodies.

Shared by :mod:`bot.assist.app` and the route modules it mounts
(:mod:`bot.assist.handoff_routes`).
"""

from __future__ import annotations

import hmac
from typing import Awaitable, Callable, Dict, Optional, Type, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

#: Largest request body accepted, in bytes.
MAX_BODY_BYTES = 64 * 1024

Body = TypeVar("Body", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]


def error(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    """Return a JSON error answer."""
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def bearer_matches(header: Optional[str], token: str) -> bool:
    """Check an ``Authorization`` header against the token in constant time."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def field_errors(exc: ValidationError) -> list[Dict[str, object]]:
    """The invalid fields, without echoing their values."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


async def read_body(request: Request, model: Type[Body]) -> Body | JSONResponse:
    """Read and validate a JSON body; an error answer when it is not valid."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return error(413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return error(400, "invalid_json", "the body is not valid JSON (UTF-8)")
        return error(
            422, "invalid_body", "the body does not match the schema", errors=field_errors(exc)
        )


__all__ = [
    "MAX_BODY_BYTES",
    "Body",
    "Handler",
    "bearer_matches",
    "error",
    "field_errors",
    "read_body",
]
