"""The console's per-day figures of the conversations: ``GET /assist/figures/daily``.

Query (agent token, like every ``/assist`` route):

* ``day``: the last day shown, ``YYYY-MM-DD`` (China date); today by default
  (``SHOPBOT_TODAY`` when pinned).
* ``days``: how many days up to it, 1 (the default) to 31.

The answer lists each day (conversations, messages, intents, claims opened,
handoffs, fallback rate) and the total of the run of days, read from what
``python -m bot.event_consumer`` counted (:mod:`bot.daily_figures`).
``/assist/figures`` stays the suggestions' coverage and acceptance.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any, Callable, Dict, List, Optional

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.assist.http import Handler, error
from bot.conversation import dialogue_texts
from bot.daily_figures import MAX_DAYS, DayFigures, figures
from bot.settings import Settings

#: The ``day`` parameter: a plain calendar date.
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class DayFiguresOut(BaseModel):
    """The figures of one day (``first_day`` = ``last_day``) or of a run of days.

    ``fallback_rate`` is the share of the buyers' messages NLU could not
    place (null without messages); ``intents``, ``handoff_reasons`` and
    ``claim_types`` count per name, most frequent first. Conversations in a
    total are distinct over its days.
    """

    first_day: str
    last_day: str
    conversations: int = Field(ge=0)
    messages: int = Field(ge=0)
    fallbacks: int = Field(ge=0)
    fallback_rate: Optional[float] = Field(ge=0, le=1)
    claims_opened: int = Field(ge=0)
    handoffs: int = Field(ge=0)
    intents: Dict[str, int]
    handoff_reasons: Dict[str, int]
    claim_types: Dict[str, int]


class DailyFiguresOut(BaseModel):
    """The answer of ``GET /assist/figures/daily``: each day, oldest first, and the total.

    ``intent_titles`` names the intents of the total in Chinese (the topics
    of ``bot/conversation.yml``), where a topic exists.
    """

    days: List[DayFiguresOut]
    total: DayFiguresOut
    intent_titles: Dict[str, str]


#: The models of this route, for the OpenAPI document's schemas.
DAILY_MODELS = (DayFiguresOut, DailyFiguresOut)


def day_out(day: DayFigures) -> DayFiguresOut:
    """Return one day's (or a run's) figures as the API shows them."""
    return DayFiguresOut(
        first_day=day.first_day.isoformat(),
        last_day=day.last_day.isoformat(),
        conversations=day.conversations,
        messages=day.messages,
        fallbacks=day.fallbacks,
        fallback_rate=day.fallback_rate,
        claims_opened=day.claims_opened,
        handoffs=day.handoffs,
        intents=day.intents,
        handoff_reasons=day.handoff_reasons,
        claim_types=day.claim_types,
    )


def _day(raw: Optional[str], today: date) -> Optional[date]:
    if raw is None:
        return today
    if not _DAY.match(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _days(raw: Optional[str]) -> Optional[int]:
    if raw is None:
        return 1
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_DAYS:
        return None
    return int(raw)


def daily_routes(settings: Settings, guarded: Callable[[Handler], Handler]) -> List[Route]:
    """Return the route of the per-day figures.

    Args:
        settings: The order database and "today".
        guarded: Wraps a handler with the agent token check.
    """

    async def daily(request: Request) -> Response:
        last = _day(request.query_params.get("day"), settings.today())
        if last is None:
            return error(422, "invalid_day", "day must be a date as YYYY-MM-DD")
        days = _days(request.query_params.get("days"))
        if days is None:
            return error(422, "invalid_days", f"days must be a whole number from 1 to {MAX_DAYS}")
        try:
            last - timedelta(days=days - 1)
        except OverflowError:
            return error(422, "invalid_day", "day is too early for that many days")
        found = await run_in_threadpool(figures, settings.db_url, last, days)
        topics = dialogue_texts().topics
        answer = DailyFiguresOut(
            days=[day_out(d) for d in found.days],
            total=day_out(found.total),
            intent_titles={name: topics[name] for name in found.total.intents if name in topics},
        )
        return JSONResponse(answer.model_dump(mode="json"))

    return [Route("/assist/figures/daily", guarded(daily), methods=["GET"])]


def daily_paths() -> Dict[str, Any]:
    """Return the OpenAPI ``paths`` of the per-day figures."""
    error_out = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    return {
        "/assist/figures/daily": {
            "get": {
                "operationId": "dailyFigures",
                "summary": (
                    "Per-day figures of the conversations: conversations, messages, intents, "
                    "claims opened, handoffs, fallback rate"
                ),
                "security": [{"agentToken": []}],
                "parameters": [
                    {
                        "name": "day",
                        "in": "query",
                        "required": False,
                        "description": "The last day shown (China date); today by default.",
                        "schema": {
                            "type": "string",
                            "format": "date",
                            "pattern": _DAY.pattern,
                        },
                    },
                    {
                        "name": "days",
                        "in": "query",
                        "required": False,
                        "description": "How many days up to `day`; 1 by default.",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_DAYS},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Each day, oldest first, and the total.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/DailyFiguresOut"}
                            }
                        },
                    },
                    "401": {"description": "No or a wrong agent token.", "content": error_out},
                    "422": {"description": "A bad day or number of days.", "content": error_out},
                    "503": {"description": "The assistant is off.", "content": error_out},
                },
            }
        }
    }


__all__ = ["DAILY_MODELS", "DailyFiguresOut", "DayFiguresOut", "daily_paths", "daily_routes"]
