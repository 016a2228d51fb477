"""What one conversation event adds to the day's figures (pure: no I/O, no clock).

Rasa's pika event broker publishes every event of every conversation to
RabbitMQ as one JSON message: ``{"sender_id": ..., **event.as_dict()}``.
:func:`count` turns one such message into the increments it makes to the
figures of its day (:mod:`bot.daily_figures` stores them):

=================  ===========================================================
figure             counted from
=================  ===========================================================
conversations      the sender of a ``user`` event (distinct per day)
messages           every ``user`` event (label: none)
intent             every ``user`` event with an intent (label: the intent)
fallbacks          a ``user`` event NLU could not place (``nlu_fallback``),
                   blank messages left out, as ``action_clarify`` counts them
claims_opened      the ``bot`` event of ``utter_claim_opened`` (label: the
                   claim's type, the problem of its decision)
handoffs           the ``bot`` event of a handoff: ``custom.handoff`` with the
                   ``handoff_id`` the dialogue recorded (label: its reason);
                   neither the channel's "still waiting" answer nor the
                   re-pause at a session start counts
=================  ===========================================================

Every other event (actions, slots, pauses, agents' messages ...) counts
nothing. The day is the event's own China date (``SHOP_TZ``), or the pinned
"today" when ``SHOPBOT_TODAY`` is set, as :meth:`bot.settings.Settings.now`
dates records in a demo. :func:`event_key` names an event so that a
redelivered message is recognised.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Dict, Mapping, Optional, Tuple

from bot.db.models import CONVERSATION_ID_MAX_LENGTH, DAILY_FIGURES, FIGURE_LABEL_MAX_LENGTH
from bot.settings import SHOP_TZ

#: The figures a day has (the ``figure`` column of ``daily_counts``).
FIGURES = DAILY_FIGURES
#: The intent NLU gives a message it cannot place (Rasa's FallbackClassifier).
FALLBACK_INTENT = "nlu_fallback"
#: The response that tells the buyer a claim was opened (``domain.yml``).
CLAIM_OPENED_RESPONSE = "utter_claim_opened"
#: Longest conversation id (the channels' ids plus a prefix).
MAX_SENDER_LENGTH = CONVERSATION_ID_MAX_LENGTH
#: Longest label (an intent, a claim type, a handoff reason).
MAX_LABEL_LENGTH = FIGURE_LABEL_MAX_LENGTH
#: A label: an intent name, a claim type or a handoff reason.
_LABEL = re.compile(rf"^[A-Za-z0-9_.-]{{1,{MAX_LABEL_LENGTH}}}$")
#: The label of a value that is not a valid label.
OTHER = "other"
#: Plausible event times: 2001-09-09 to 2286-11-20 (Unix seconds).
_EARLIEST, _LATEST = 1e9, 1e10


class MalformedEvent(ValueError):
    """A message that is not a conversation event Rasa would publish."""


@dataclass(frozen=True)
class Increment:
    """One figure goes up by one.

    Attributes:
        figure: One of :data:`FIGURES`.
        label: What it counts within the figure (an intent, a reason), or "".
    """

    figure: str
    label: str = ""


@dataclass(frozen=True)
class Counted:
    """What one event adds to its day.

    Attributes:
        key: The event's identity (:func:`event_key`): a redelivered message
            has the same key and is counted once.
        day: The day the event counts on.
        conversation_id: The sender, when the event is a buyer's message
            (it makes the sender one of the day's conversations).
        increments: The figures it raises.
    """

    key: str
    day: date
    conversation_id: Optional[str]
    increments: Tuple[Increment, ...]


def parse(body: bytes) -> Dict[str, Any]:
    """Read one broker message: a JSON object naming its event and sender.

    Raises:
        MalformedEvent: Not UTF-8 JSON, not an object, or no ``event`` /
            ``sender_id`` strings in it.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedEvent(f"not UTF-8 JSON ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise MalformedEvent(f"not a JSON object but {type(data).__name__}")
    if not isinstance(data.get("event"), str) or not data["event"]:
        raise MalformedEvent("no event type")
    sender = data.get("sender_id")
    if not isinstance(sender, str) or not sender or len(sender) > MAX_SENDER_LENGTH:
        raise MalformedEvent("no valid sender_id")
    return data


def event_key(event: Mapping[str, Any]) -> str:
    """Return the identity of an event: SHA-256 of its canonical JSON.

    The sender, the type, the timestamp (Rasa's ``time.time()`` when the
    event was made) and every other field are in it, so the same message
    delivered twice has one key and two events of a conversation do not.
    """
    canonical = json.dumps(
        event, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def event_day(timestamp: Any, today_override: Optional[date] = None) -> date:
    """Return the China date of a Rasa timestamp (Unix seconds), or the pinned day.

    Raises:
        MalformedEvent: No plausible timestamp.
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        raise MalformedEvent("no numeric timestamp")
    if not math.isfinite(timestamp) or not _EARLIEST <= timestamp <= _LATEST:
        raise MalformedEvent("timestamp out of range")
    if today_override is not None:
        return today_override
    return datetime.fromtimestamp(timestamp, timezone.utc).astimezone(SHOP_TZ).date()


def _label(value: Any) -> str:
    return value if isinstance(value, str) and _LABEL.match(value) else OTHER


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _user(event: Mapping[str, Any]) -> Tuple[Increment, ...]:
    increments = [Increment("messages")]
    intent = _mapping(_mapping(event.get("parse_data")).get("intent")).get("name")
    if intent is not None:
        increments.append(Increment("intent", _label(intent)))
    text = event.get("text")
    blank = not isinstance(text, str) or not text.strip()
    if intent == FALLBACK_INTENT and not blank:
        increments.append(Increment("fallbacks"))
    return tuple(increments)


def _claim_type(custom: Mapping[str, Any]) -> str:
    decision = _mapping(custom.get("decision"))
    problem = decision.get("problem")
    return _label(problem) if problem is not None else ""


def _bot(event: Mapping[str, Any]) -> Tuple[Increment, ...]:
    metadata = _mapping(event.get("metadata"))
    if metadata.get("agent") is True:
        return ()  # an agent's reply in a handed-off conversation
    custom = _mapping(_mapping(event.get("data")).get("custom"))
    if metadata.get("utter_action") == CLAIM_OPENED_RESPONSE:
        return (Increment("claims_opened", _claim_type(custom)),)
    handoff_id = custom.get("handoff_id")
    if (
        custom.get("handoff") is True
        and custom.get("waiting") is not True
        and isinstance(handoff_id, int)
        and not isinstance(handoff_id, bool)
    ):
        return (Increment("handoffs", _label(custom.get("reason"))),)
    return ()


def count(event: Mapping[str, Any], today_override: Optional[date] = None) -> Optional[Counted]:
    """Return what an event (as :func:`parse` read it) adds to its day; None: nothing.

    Args:
        event: The broker message: ``sender_id`` and the event's fields.
        today_override: The pinned "today" (``SHOPBOT_TODAY``), if any.

    Raises:
        MalformedEvent: An event that would count lacks what it is counted by
            (a valid sender or timestamp).
    """
    kind = event.get("event")
    if kind == "user":
        increments = _user(event)
    elif kind == "bot":
        increments = _bot(event)
    else:
        return None
    if not increments:
        return None
    sender = event.get("sender_id")
    if not isinstance(sender, str) or not sender or len(sender) > MAX_SENDER_LENGTH:
        raise MalformedEvent("no valid sender_id")
    try:
        key = event_key(event)
    except (ValueError, RecursionError) as exc:  # NaN, infinity, absurd nesting
        raise MalformedEvent("not canonical JSON") from exc
    return Counted(
        key=key,
        day=event_day(event.get("timestamp"), today_override),
        conversation_id=sender if kind == "user" else None,
        increments=increments,
    )


__all__ = [
    "CLAIM_OPENED_RESPONSE",
    "FALLBACK_INTENT",
    "FIGURES",
    "MAX_LABEL_LENGTH",
    "MAX_SENDER_LENGTH",
    "OTHER",
    "Counted",
    "Increment",
    "MalformedEvent",
    "count",
    "event_day",
    "event_key",
    "parse",
]
