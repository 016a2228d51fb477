"""A client of Rasa's HTTP API for the agent assistant.

Two reads: ``POST /model/parse`` (NLU of a text; it touches no
conversation) and ``GET /conversations/{id}/tracker`` (a conversation's
events); the suggestions use only these, so they never change the buyer's
conversation. One write, for human handoffs only
(:mod:`bot.assist.handoff_routes`): ``POST /conversations/{id}/tracker/events``
appends one event (``resume`` when an agent releases a conversation, a
``bot`` message with an agent's reply). Nothing here predicts or runs
actions. The API token travels as Rasa's ``token`` query parameter and is
never logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Literal, Mapping, Optional
from urllib.parse import quote

import httpx

logger = logging.getLogger(__name__)

#: Seconds to wait for Rasa.
DEFAULT_TIMEOUT_S = 10.0


class RasaUnavailableError(RuntimeError):
    """Rasa did not answer, or answered with an error."""


@dataclass(frozen=True)
class TranscriptLine:
    """One message of a conversation.

    Attributes:
        role: ``buyer``, ``bot``, or ``agent`` (a human agent's reply during a
            handoff: a bot event with metadata ``{"agent": true}``).
        text: What was said (buttons' titles for a bot message without text).
        at: When, ISO 8601 UTC, if known.
        intent: The intent NLU found (buyer messages).
    """

    role: Literal["buyer", "bot", "agent"]
    text: str
    at: Optional[str]
    intent: Optional[str] = None


def _timestamp(value: Any) -> Optional[str]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, tz=timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def transcript(tracker: Mapping[str, Any]) -> List[TranscriptLine]:
    """Return the buyer's, the bot's and agents' messages of a tracker dump, in order."""
    lines: List[TranscriptLine] = []
    for event in tracker.get("events") or []:
        if not isinstance(event, Mapping):
            continue
        kind, text = event.get("event"), event.get("text")
        at = _timestamp(event.get("timestamp"))
        if kind == "user" and isinstance(text, str):
            parse = event.get("parse_data")
            intent = parse.get("intent") if isinstance(parse, Mapping) else None
            name = intent.get("name") if isinstance(intent, Mapping) else None
            lines.append(TranscriptLine("buyer", text, at, name if isinstance(name, str) else None))
        elif kind == "bot":
            data = event.get("data")
            buttons = data.get("buttons") if isinstance(data, Mapping) else None
            titles = [
                b["title"]
                for b in buttons or []
                if isinstance(b, Mapping) and isinstance(b.get("title"), str)
            ]
            body = " / ".join(
                part for part in (text if isinstance(text, str) else "", *titles) if part
            )
            metadata = event.get("metadata")
            agent = isinstance(metadata, Mapping) and metadata.get("agent") is True
            if body:
                lines.append(TranscriptLine("agent" if agent else "bot", body, at))
    return lines


#: Characters a conversation id keeps as they are in Rasa's URL paths.
#: Rasa (Sanic) does not decode its ``<conversation_id:path>`` parameter, so
#: an id must travel as written: ``im:c-42`` as ``im:c-42``, not
#: ``im%3Ac-42`` (another conversation). Characters a path cannot hold are
#: still encoded (Rasa then sees the encoded form).
PATH_SAFE = "/:@!$&'()*+,;="


def conversation_path(conversation_id: str) -> str:
    """Return a conversation id as Rasa's URL paths need it."""
    return quote(conversation_id, safe=PATH_SAFE)


class RasaClient:
    """Calls the Rasa server's HTTP API.

    Args:
        base_url: The server, e.g. ``http://127.0.0.1:5005``.
        token: The API token (``rasa run --auth-token``).
        timeout_s: Seconds to wait for an answer.
        transport: An httpx transport (tests); the network when omitted.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: Optional[httpx.AsyncBaseTransport] = None,
    ) -> None:
        self._token = token
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport
        )

    async def _call(
        self,
        method: str,
        path: str,
        body: Optional[Dict[str, Any]] = None,
        params: Optional[Dict[str, str]] = None,
    ) -> Any:
        try:
            reply = await self._client.request(
                method, path, params={"token": self._token, **(params or {})}, json=body
            )
        except httpx.HTTPError as exc:
            logger.warning("Rasa %s %s failed: %s", method, path.split("/")[1], type(exc).__name__)
            raise RasaUnavailableError(f"Rasa did not answer: {type(exc).__name__}") from None
        if reply.status_code != 200:
            logger.warning("Rasa %s /%s answered %s", method, path.split("/")[1], reply.status_code)
            raise RasaUnavailableError(f"Rasa answered {reply.status_code}")
        try:
            return reply.json()
        except ValueError:
            raise RasaUnavailableError("Rasa answered with something else than JSON") from None

    async def parse(self, text: str) -> Dict[str, Any]:
        """Return NLU's parse of ``text`` (``POST /model/parse``).

        Raises:
            RasaUnavailableError: Rasa did not answer with a parse.
        """
        answer = await self._call("POST", "/model/parse", {"text": text})
        if not isinstance(answer, dict):
            raise RasaUnavailableError("Rasa's parse is not a JSON object")
        return answer

    async def transcript(self, conversation_id: str) -> List[TranscriptLine]:
        """Return a conversation's messages (``GET /conversations/{id}/tracker``).

        Raises:
            RasaUnavailableError: Rasa did not answer with a tracker.
        """
        path = f"/conversations/{conversation_path(conversation_id)}/tracker"
        answer = await self._call("GET", path)
        if not isinstance(answer, dict):
            raise RasaUnavailableError("Rasa's tracker is not a JSON object")
        return transcript(answer)

    async def append_event(self, conversation_id: str, event: Dict[str, Any]) -> None:
        """Append one event to a conversation (``POST /conversations/{id}/tracker/events``).

        Used only by the handoff routes: ``{"event": "resume"}`` when an agent
        releases a conversation, ``{"event": "bot", "text": ..., "metadata":
        {"agent": true}}`` for an agent's reply in the web chat.

        Raises:
            RasaUnavailableError: Rasa did not answer, or refused the event.
        """
        path = f"/conversations/{conversation_path(conversation_id)}/tracker/events"
        await self._call("POST", path, event, params={"include_events": "NONE"})

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()
