"""What agents did with the suggestions, and the figures it gives.

The console reports each suggestion set it showed (with how many
suggestions it held), each suggestion an agent clicked into the reply box,
edited before sending, or ignored. :func:`figures` turns the events into the
assistant's coverage (share of shown sets that held a suggestion) and
acceptance (share of those where the agent took one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Dict, Optional

from sqlalchemy import distinct, func, select

from bot.db.models import AssistFeedback
from bot.db.session import session_scope
from bot.settings import Settings


@dataclass(frozen=True)
class FeedbackEvent:
    """One report of the console.

    Attributes:
        request_id: The suggestion set (``request_id`` of ``/assist/suggest``).
        conversation_id: The buyer's conversation.
        event: ``shown``, ``clicked``, ``edited`` or ``ignored``.
        rank: The suggestion (0: the best), for ``clicked`` and ``edited``.
        count: How many suggestions the set held, for ``shown``.
        intent: The suggestion's intent, if known.
    """

    request_id: str
    conversation_id: str
    event: str
    rank: Optional[int] = None
    count: Optional[int] = None
    intent: Optional[str] = None


@dataclass(frozen=True)
class FeedbackFigures:
    """The assistant's figures over the recorded events.

    Attributes:
        shown: Suggestion sets shown to an agent.
        with_suggestions: Shown sets holding at least one suggestion.
        accepted: Sets where the agent clicked a suggestion.
        edited: Sets where the agent edited a clicked suggestion.
        ignored: Sets the agent answered otherwise.
        coverage: ``with_suggestions / shown`` (None before any set).
        acceptance: ``accepted / with_suggestions`` (None before any).
        edit_rate: ``edited / accepted`` (None before any).
        clicked_by_rank: Clicks per suggestion rank (0: the best).
    """

    shown: int
    with_suggestions: int
    accepted: int
    edited: int
    ignored: int
    coverage: Optional[float]
    acceptance: Optional[float]
    edit_rate: Optional[float]
    clicked_by_rank: Dict[int, int] = field(default_factory=dict)


def record(settings: Settings, event: FeedbackEvent) -> None:
    """Store one event (the time is the settings' now)."""
    with session_scope(settings.db_url) as session:
        session.add(
            AssistFeedback(
                at=settings.now(),
                request_id=event.request_id,
                conversation_id=event.conversation_id,
                event=event.event,
                rank=event.rank,
                count=event.count,
                intent=event.intent,
            )
        )


def _share(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None


def figures(settings: Settings, since: Optional[datetime] = None) -> FeedbackFigures:
    """Compute the figures over the events recorded since ``since`` (all by default).

    Each suggestion set counts once per kind of event, however often the
    console reported it.
    """
    sets = func.count(distinct(AssistFeedback.request_id))
    where = [] if since is None else [AssistFeedback.at >= since]
    with session_scope(settings.db_url) as session:
        per_event = dict(
            session.execute(
                select(AssistFeedback.event, sets).where(*where).group_by(AssistFeedback.event)
            ).all()
        )
        with_suggestions = session.scalar(
            select(sets).where(*where, AssistFeedback.event == "shown", AssistFeedback.count > 0)
        )
        by_rank = session.execute(
            select(AssistFeedback.rank, sets)
            .where(*where, AssistFeedback.event == "clicked", AssistFeedback.rank.is_not(None))
            .group_by(AssistFeedback.rank)
            .order_by(AssistFeedback.rank)
        ).all()
    shown = int(per_event.get("shown", 0))
    covered = int(with_suggestions or 0)
    accepted = int(per_event.get("clicked", 0))
    edited = int(per_event.get("edited", 0))
    return FeedbackFigures(
        shown=shown,
        with_suggestions=covered,
        accepted=accepted,
        edited=edited,
        ignored=int(per_event.get("ignored", 0)),
        coverage=_share(covered, shown),
        acceptance=_share(accepted, covered),
        edit_rate=_share(edited, accepted),
        clicked_by_rank={int(rank): int(n) for rank, n in by_rank if rank is not None},
    )
