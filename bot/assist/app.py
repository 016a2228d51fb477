"""The assistant's HTTP service and the agent console (Starlette, served by uvicorn).

Routes:
    GET  /assist/health                       liveness (no token)
    GET  /assist/openapi.json                 the OpenAPI description (no token)
    POST /assist/suggest                      suggested replies
    POST /assist/feedback                     shown / clicked / edited / ignored
    GET  /assist/figures                      coverage and acceptance
    GET  /assist/figures/daily[?day=&days=]   per-day conversation figures
                                              (:mod:`bot.assist.daily_routes`)
    GET  /assist/conversations/{id}/transcript  messages from Rasa's tracker
    GET  /assist/handoffs, POST /assist/handoffs/{id}/release|reply
                                              human handoffs (:mod:`bot.assist.handoff_routes`)
    GET  /console/                            the agent console (static page)
    POST /evidence/upload, GET /evidence/...  evidence photos (:mod:`bot.evidence_http`)

Every ``/assist`` route but the first two needs ``Authorization: Bearer
$SHOPBOT_AGENT_TOKEN`` (compared in constant time); without the variable the
assistant is off (503). Bad bodies get 400 (not JSON) or 422 (not the
schema) with the invalid fields, never a server error. While the order
database is unreachable every route that needs it answers 503
``{"error": "database_unavailable"}`` with ``Retry-After`` (one log line per
request); the next request after it is back works again.

Command line::

    python -m bot.assist.app --port 8090
"""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Optional, Sequence

from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.assist import api as assist_api
from bot.assist.api import FeedbackRecorded, PartyId, openapi_document
from bot.assist.daily_routes import daily_routes
from bot.assist.handoff_routes import handoff_routes
from bot.assist.http import Handler, bearer_matches, error, read_body
from bot.assist.http import field_errors as _field_errors
from bot.assist.rasa import RasaClient, RasaUnavailableError
from bot.assist.service import Assistant
from bot.assist.templates import cached_templates
from bot.db.session import UNAVAILABLE, database_label, unavailable_reason
from bot.evidence_http import evidence_routes
from bot.settings import PROJECT_ROOT, Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)

#: The console's static files.
CONSOLE_DIR = PROJECT_ROOT / "web" / "console"
CONSOLE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "application/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
#: The console's content security policy: its own files and API only.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

#: Seconds a client is asked to wait before retrying while the database is away.
DATABASE_RETRY_AFTER_S = 5

_conversation_id: TypeAdapter[str] = TypeAdapter(PartyId)


def create_app(
    settings: Settings,
    rasa: Optional[RasaClient] = None,
    console_dir: Path = CONSOLE_DIR,
) -> Starlette:
    """Build the service.

    Args:
        settings: Process settings; ``agent_token`` None turns the assistant off.
        rasa: The Rasa client; one for ``settings.rasa_url`` when omitted.
        console_dir: Folder of the console's static files.

    Returns:
        The ASGI application.
    """
    client = rasa or RasaClient(settings.rasa_url, settings.rasa_api_token())
    assistant = Assistant(settings, client, cached_templates())
    token = settings.agent_token

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if token is None:
                return error(503, "assistant_off", "SHOPBOT_AGENT_TOKEN is not set")
            if not bearer_matches(request.headers.get("authorization"), token):
                response = error(401, "unauthorized", "an agent token is required")
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
            try:
                return await handler(request)
            except RasaUnavailableError as exc:
                response = error(503, "nlu_unavailable", str(exc))
                response.headers["Retry-After"] = "5"
                return response

        return endpoint

    async def suggest(request: Request) -> Response:
        body = await read_body(request, assist_api.SuggestRequest)
        if isinstance(body, JSONResponse):
            return body
        answer = await assistant.suggest(body)
        return JSONResponse(answer.model_dump(mode="json"))

    async def feedback(request: Request) -> Response:
        body = await read_body(request, assist_api.FeedbackRequest)
        if isinstance(body, JSONResponse):
            return body
        await assistant.record(body)
        return JSONResponse(FeedbackRecorded(recorded=True).model_dump())

    async def figures(request: Request) -> Response:
        return JSONResponse((await assistant.figures()).model_dump(mode="json"))

    async def transcript(request: Request) -> Response:
        try:
            conversation_id = _conversation_id.validate_python(
                request.path_params["conversation_id"]
            )
        except ValidationError as exc:
            return error(
                422, "invalid_conversation_id", "bad conversation id", errors=_field_errors(exc)
            )
        return JSONResponse((await assistant.transcript(conversation_id)).model_dump(mode="json"))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "assistant": token is not None})

    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def console_root(request: Request) -> Response:
        return RedirectResponse("/console/", status_code=308)

    async def console_file(request: Request) -> Response:
        name = request.path_params.get("name") or "index.html"
        if name not in CONSOLE_FILES:
            return error(404, "not_found", "no such page")
        headers = {
            "Content-Security-Policy": CONSOLE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        }
        return FileResponse(console_dir / name, media_type=CONSOLE_FILES[name], headers=headers)

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(404, "not_found", "no such page")

    async def wrong_method(request: Request, exc: Exception) -> Response:
        return error(405, "method_not_allowed", "method not allowed")

    async def database_unavailable(request: Request, exc: Exception) -> Response:
        logger.error(
            "assistant: %s %s: the order database (%s) is unavailable (%s): answered 503",
            request.method,
            request.url.path,
            database_label(settings.db_url),
            unavailable_reason(exc),
        )
        response = error(
            503, "database_unavailable", "the order database is unavailable; retry later"
        )
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    routes = [
        Route("/assist/health", health, methods=["GET"]),
        Route("/assist/openapi.json", openapi, methods=["GET"]),
        Route("/assist/suggest", guarded(suggest), methods=["POST"]),
        Route("/assist/feedback", guarded(feedback), methods=["POST"]),
        Route("/assist/figures", guarded(figures), methods=["GET"]),
        *daily_routes(settings, guarded),
        Route(
            "/assist/conversations/{conversation_id:path}/transcript",
            guarded(transcript),
            methods=["GET"],
        ),
        Route("/console", console_root, methods=["GET"]),
        Route("/console/", console_file, methods=["GET"]),
        Route("/console/{name}", console_file, methods=["GET"]),
        *evidence_routes(settings, guarded),
        *handoff_routes(settings, client, guarded),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            404: not_found,
            405: wrong_method,
            **{kind: database_unavailable for kind in UNAVAILABLE},
        },
    )


def main(argv: Sequence[str]) -> int:
    """Serve the assistant until interrupted; return an exit code."""
    import uvicorn

    from bot.db.migrate import upgrade

    parser = argparse.ArgumentParser(prog="python -m bot.assist.app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # httpx logs each request's URL, and Rasa's token travels in it.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 1
    if settings.agent_token is None:
        print("assistant: SHOPBOT_AGENT_TOKEN is not set: the assistant is off", file=sys.stderr)
        return 1
    try:
        upgrade(settings.db_url)
    except UNAVAILABLE as exc:
        print(
            f"assistant: the database ({database_label(settings.db_url)}) is unavailable "
            f"({unavailable_reason(exc)}): not started",
            file=sys.stderr,
        )
        return 1
    logger.info(
        "agent assistant on http://%s:%s (Rasa at %s)", args.host, args.port, settings.rasa_url
    )
    uvicorn.run(
        create_app(settings), host=args.host, port=args.port, log_level="warning", access_log=False
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
