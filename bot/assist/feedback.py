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
from typing import Any, Dict, Optional

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
    console reported it. Clicks count only on sets shown with suggestions and
    edits only on clicked sets, so the shares stay between 0 and 1 whatever
    a client reports.
    """
    row = AssistFeedback
    sets = func.count(distinct(row.request_id))
    where = [] if since is None else [row.at >= since]

    def ids(event: str, *more: Any) -> Any:
        return select(row.request_id).where(*where, row.event == event, *more)

    covered_ids = ids("shown", row.count > 0)
    accepted_ids = ids("clicked", row.request_id.in_(covered_ids))
    with session_scope(settings.db_url) as session:
        shown = session.scalar(select(sets).where(*where, row.event == "shown")) or 0
        covered = session.scalar(select(sets).where(row.request_id.in_(covered_ids))) or 0
        accepted = session.scalar(select(sets).where(row.request_id.in_(accepted_ids))) or 0
        edited = (
            session.scalar(
                select(sets).where(*where, row.event == "edited", row.request_id.in_(accepted_ids))
            )
            or 0
        )
        ignored = (
            session.scalar(
                select(sets).where(*where, row.event == "ignored", row.request_id.in_(ids("shown")))
            )
            or 0
        )
        by_rank = session.execute(
            select(row.rank, sets)
            .where(
                *where,
                row.event == "clicked",
                row.rank.is_not(None),
                row.request_id.in_(covered_ids),
            )
            .group_by(row.rank)
            .order_by(row.rank)
        ).all()
    return FeedbackFigures(
        shown=int(shown),
        with_suggestions=int(covered),
        accepted=int(accepted),
        edited=int(edited),
        ignored=int(ignored),
        coverage=_share(int(covered), int(shown)),
        acceptance=_share(int(accepted), int(covered)),
        edit_rate=_share(int(edited), int(accepted)),
        clicked_by_rank={int(rank): int(n) for rank, n in by_rank if rank is not None},
    )
