"""Human handoffs: conversations the bot hands over to an agent, and back.

When a buyer asks for a person, complains, is not understood twice, or the
rules send the case to 客服介入, the action server calls
:func:`record_handoff` and pauses the Rasa conversation; the bot stays silent
there until an agent releases it (:func:`release_handoff`, then a ``resume``
event on the tracker: :mod:`bot.assist.handoff_routes`).

At most one handoff per conversation is open at a time. The database
enforces it (the partial unique index ``uq_handoffs_open_conversation``): a
second :func:`record_handoff` while one is open updates that one's reason
and summary, and two concurrent callers end up with the same row.

The ``summary`` is the case an agent acts on, as JSON. The console shows
these keys when present (any other key is shown as is):

* ``order``: the order's facts (``order_id``, ``product``, ``status_name``
  or ``status``, ``price``, ...);
* ``decision``: the rule engine's decision (``Decision.to_json()``:
  ``route_name``, ``eligible``, ``window_end``, ``days_left``, ...);
* ``claim``: the order's claim (``claim_no``, ``claim_status``,
  ``next_deadline``, ``next_party``);
* ``evidence``: the evidence status (``{"needed": [...], "uploaded":
  [...]}``, or text);
* ``buyer_said``: what the buyer wrote, oldest first (list of texts; kept
  to the last :data:`MAX_BUYER_SAID`, each clipped like any message).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import (
    CONVERSATION_ID_MAX_LENGTH,
    HANDOFF_CHANNELS,
    HANDOFF_REASONS,
    PARTY_ID_MAX_LENGTH,
    Handoff,
)
from bot.db.session import session_scope
from bot.messages import clip_message
from bot.settings import Settings

logger = logging.getLogger(__name__)

#: How many of the buyer's messages a summary keeps (the latest).
MAX_BUYER_SAID = 20
#: Most open handoffs one call of :func:`open_handoffs` returns.
MAX_LIMIT = 200
#: Largest handoff id looked up (ids are 32-bit integers in the database).
MAX_ID = 2**31 - 1
#: Attempts of :func:`record_handoff` when concurrent callers race.
_ATTEMPTS = 3


@dataclass(frozen=True)
class HandoffView:
    """A handoff as the assistant and the dialogue see it (a plain value).

    Attributes:
        id: The handoff's number.
        conversation_id: The Rasa conversation (sender id).
        channel: ``shop`` or ``im`` (Rasa input channel name).
        subject: The buyer's or seller's id (the token's subject).
        role: ``buyer`` or ``seller``.
        reason: ``request_human``, ``complaint``, ``fallback``,
            ``intervention`` or ``order_not_found``.
        status: ``open`` or ``released``.
        order_id: The order in question, if known.
        problem: The intent name of the buyer's problem, if known.
        summary: The case summary (JSON, see the module's docstring).
        created_at: When it was first recorded (aware, UTC).
        released_at: When an agent released it.
        released_by: Which agent released it.
    """

    id: int
    conversation_id: str
    channel: str
    subject: str
    role: str
    reason: str
    status: str
    order_id: Optional[str]
    problem: Optional[str]
    summary: Dict[str, Any]
    created_at: datetime
    released_at: Optional[datetime]
    released_by: Optional[str]


def _view(row: Handoff) -> HandoffView:
    return HandoffView(
        id=row.id,
        conversation_id=row.conversation_id,
        channel=row.channel,
        subject=row.subject,
        role=row.role,
        reason=row.reason,
        status=row.status,
        order_id=row.order_id,
        problem=row.problem,
        summary=dict(row.summary or {}),
        created_at=row.created_at,
        released_at=row.released_at,
        released_by=row.released_by,
    )


def clean_summary(summary: Mapping[str, Any]) -> Dict[str, Any]:
    """Return the summary as plain JSON, with the buyer's texts bounded.

    Values JSON does not know (dates, decimals) become their text;
    ``buyer_said`` keeps its last :data:`MAX_BUYER_SAID` texts, each
    clipped like a message before NLU.
    """
    plain: Dict[str, Any] = json.loads(json.dumps(dict(summary), default=str, ensure_ascii=False))
    said = plain.get("buyer_said")
    if isinstance(said, list):
        texts = [clip_message(str(text)) for text in said if text is not None]
        plain["buyer_said"] = texts[-MAX_BUYER_SAID:]
    return plain


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"handoff {name} must be one of {', '.join(allowed)}, got {value!r}")


def find_open(session: Session, conversation_id: str) -> Optional[Handoff]:
    """Return the conversation's open handoff row, locked for update, if any."""
    return session.scalar(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id, Handoff.status == "open")
        .with_for_update()
    )


def record_handoff(
    settings: Settings,
    *,
    conversation_id: str,
    channel: str,
    subject: str,
    role: str,
    reason: str,
    order_id: Optional[str],
    problem: Optional[str],
    summary: Mapping[str, Any],
) -> HandoffView:
    """Record that a conversation is handed over to a person.

    A conversation with an open handoff keeps that one: its reason and
    summary are updated (and its order and problem, when given), and it is
    returned.

    Args:
        settings: Database and clock.
        conversation_id: The Rasa conversation (sender id).
        channel: ``shop`` or ``im``.
        subject: The buyer's or seller's id.
        role: ``buyer`` or ``seller``.
        reason: One of :data:`bot.db.models.HANDOFF_REASONS`.
        order_id: The order in question, if known.
        problem: The intent name of the problem, if known.
        summary: The case summary (see the module's docstring).

    Returns:
        The open handoff.

    Raises:
        ValueError: An unknown channel or reason, or an empty or too long
            conversation id or subject (a programming error of the caller).
    """
    _check("channel", channel, HANDOFF_CHANNELS)
    _check("reason", reason, HANDOFF_REASONS)
    if not 0 < len(conversation_id) <= CONVERSATION_ID_MAX_LENGTH:
        raise ValueError("handoff conversation_id must be 1 to 160 characters")
    if not 0 < len(subject) <= PARTY_ID_MAX_LENGTH:
        raise ValueError("handoff subject must be 1 to 128 characters")
    plain = clean_summary(summary)
    for attempt in range(1, _ATTEMPTS + 1):
        now = settings.now()
        try:
            with session_scope(settings.db_url) as session:
                row = find_open(session, conversation_id)
                if row is None:
                    row = Handoff(
                        conversation_id=conversation_id,
                        channel=channel,
                        subject=subject,
                        role=role,
                        reason=reason,
                        status="open",
                        order_id=order_id,
                        problem=problem,
                        summary=plain,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(row)
                else:
                    row.reason = reason
                    row.summary = plain
                    row.updated_at = now
                    if order_id is not None:
                        row.order_id = order_id
                    if problem is not None:
                        row.problem = problem
                session.flush()
            view = _view(row)
        except IntegrityError:
            # Another caller opened this conversation's handoff in between:
            # the next attempt finds it and updates it.
            logger.info("handoff of %s opened concurrently (attempt %s)", conversation_id, attempt)
            continue
        logger.info(
            "handoff %s of conversation %s: %s (%s)", view.id, conversation_id, reason, channel
        )
        return view
    raise RuntimeError(f"could not record the handoff of {conversation_id}")


def open_handoffs(settings: Settings, limit: int = 50) -> List[HandoffView]:
    """Return the open handoffs, oldest first (the agents' queue).

    Args:
        settings: Database.
        limit: At most this many (1 to :data:`MAX_LIMIT`).
    """
    bounded = max(1, min(limit, MAX_LIMIT))
    with session_scope(settings.db_url) as session:
        rows = session.scalars(
            select(Handoff)
            .where(Handoff.status == "open")
            .order_by(Handoff.created_at, Handoff.id)
            .limit(bounded)
        ).all()
        return [_view(row) for row in rows]


def get_handoff(settings: Settings, handoff_id: int) -> Optional[HandoffView]:
    """Return handoff ``handoff_id``, open or released; None if there is none."""
    if not 1 <= handoff_id <= MAX_ID:
        return None
    with session_scope(settings.db_url) as session:
        row = session.get(Handoff, handoff_id)
        return _view(row) if row is not None else None


def release_handoff(settings: Settings, handoff_id: int, agent: str) -> Optional[HandoffView]:
    """Mark a handoff released by ``agent``; idempotent.

    Releasing a released handoff changes nothing and returns it as it is
    (who released it first, and when).

    Returns:
        The handoff, or None when there is no such handoff.
    """
    if not 1 <= handoff_id <= MAX_ID:
        return None
    with session_scope(settings.db_url) as session:
        row = session.get(Handoff, handoff_id, with_for_update=True)
        if row is None:
            return None
        if row.status == "open":
            now = settings.now()
            row.status = "released"
            row.released_at = now
            row.released_by = agent[:PARTY_ID_MAX_LENGTH]
            row.updated_at = now
            session.flush()
            logger.info("handoff %s released to the bot", handoff_id)
        return _view(row)


def is_handed_off(settings: Settings, conversation_id: str) -> bool:
    """Tell whether the conversation has an open handoff."""
    with session_scope(settings.db_url) as session:
        found = session.scalar(
            select(Handoff.id).where(
                Handoff.conversation_id == conversation_id, Handoff.status == "open"
            )
        )
        return found is not None


__all__ = [
    "MAX_BUYER_SAID",
    "MAX_ID",
    "MAX_LIMIT",
    "HandoffView",
    "clean_summary",
    "find_open",
    "get_handoff",
    "is_handed_off",
    "open_handoffs",
    "record_handoff",
    "release_handoff",
]
