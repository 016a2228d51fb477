"""The per-day figures of the conversations: stored by the event consumer, read by the console.

:func:`record` adds what one event counts (:class:`bot.event_counts.Counted`)
in one transaction, together with the event's receipt: an event whose
receipt exists was counted before (RabbitMQ delivered it again) and changes
nothing. Counters are upserts (``INSERT ... ON CONFLICT DO UPDATE``), so
several consumers may count at once, on PostgreSQL and SQLite alike.

:func:`figures` reads the figures of a run of days: per day and in total
(conversations in the total are distinct over the days).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Optional, Union

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.db.models import DailyConversation, DailyCount, EventReceipt
from bot.db.session import session_scope
from bot.event_counts import Counted

#: The longest run of days one read may cover.
MAX_DAYS = 31


@dataclass(frozen=True)
class DayFigures:
    """The figures of one day, or of a run of days.

    Attributes:
        first_day: The first day counted.
        last_day: The last day counted (the same for one day).
        conversations: Conversations in which a buyer wrote (distinct).
        messages: The buyers' messages.
        fallbacks: Messages NLU could not place (``nlu_fallback``).
        fallback_rate: ``fallbacks / messages`` (None without messages).
        claims_opened: Claims the bot opened.
        handoffs: Conversations handed to a person.
        intents: Messages per intent, most frequent first.
        handoff_reasons: Handoffs per reason.
        claim_types: Claims per type (the problem of the claim's decision).
    """

    first_day: date
    last_day: date
    conversations: int = 0
    messages: int = 0
    fallbacks: int = 0
    fallback_rate: Optional[float] = None
    claims_opened: int = 0
    handoffs: int = 0
    intents: Dict[str, int] = field(default_factory=dict)
    handoff_reasons: Dict[str, int] = field(default_factory=dict)
    claim_types: Dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FiguresRange:
    """The figures of ``days`` consecutive days ending on ``last_day``.

    Attributes:
        days: One entry per day, oldest first (days without events are zeros).
        total: The whole run of days.
    """

    days: List[DayFigures]
    total: DayFigures


def _insert(session: Session, model: Any) -> Union[postgresql.Insert, sqlite.Insert]:
    """The backend's INSERT, which knows ``ON CONFLICT``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def record(db_url: str, counted: Counted, now: datetime) -> bool:
    """Add what one event counts, once.

    Args:
        db_url: The order database.
        counted: The event's increments (:func:`bot.event_counts.count`).
        now: When it was received (aware; kept on the receipt for pruning).

    Returns:
        True when counted now; False when the event was counted before.
    """
    with session_scope(db_url) as session:
        receipt = (
            _insert(session, EventReceipt)
            .values(key=counted.key, day=counted.day, received_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(EventReceipt.key)
        )
        if session.execute(receipt).first() is None:  # counted before
            return False
        if counted.conversation_id is not None:
            session.execute(
                _insert(session, DailyConversation)
                .values(day=counted.day, conversation_id=counted.conversation_id)
                .on_conflict_do_nothing(index_elements=["day", "conversation_id"])
            )
        for increment in counted.increments:
            upsert = _insert(session, DailyCount).values(
                day=counted.day, figure=increment.figure, label=increment.label, count=1
            )
            session.execute(
                upsert.on_conflict_do_update(
                    index_elements=["day", "figure", "label"],
                    set_={"count": DailyCount.count + upsert.excluded.count},
                )
            )
    return True


def prune_receipts(db_url: str, before: datetime) -> int:
    """Forget the receipts of events received before ``before``; return how many."""
    with session_scope(db_url) as session:
        result = session.execute(delete(EventReceipt).where(EventReceipt.received_at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]


def _share(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None


def _ranked(counts: Dict[str, int]) -> Dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _figures(
    first: date, last: date, conversations: int, counts: Dict[str, Dict[str, int]]
) -> DayFigures:
    messages = sum(counts["messages"].values())
    fallbacks = sum(counts["fallbacks"].values())
    return DayFigures(
        first_day=first,
        last_day=last,
        conversations=conversations,
        messages=messages,
        fallbacks=fallbacks,
        fallback_rate=_share(fallbacks, messages),
        claims_opened=sum(counts["claims_opened"].values()),
        handoffs=sum(counts["handoffs"].values()),
        intents=_ranked(counts["intent"]),
        handoff_reasons=_ranked(counts["handoffs"]),
        claim_types=_ranked({k: v for k, v in counts["claims_opened"].items() if k}),
    )


def figures(db_url: str, last_day: date, days: int = 1) -> FiguresRange:
    """Read the figures of ``days`` days ending on ``last_day`` (1 to :data:`MAX_DAYS`).

    Raises:
        ValueError: ``days`` is out of range.
    """
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 1 to {MAX_DAYS}, got {days}")
    first_day = last_day - timedelta(days=days - 1)
    in_range = DailyCount.day.between(first_day, last_day)
    with session_scope(db_url) as session:
        rows = session.execute(
            select(DailyCount.day, DailyCount.figure, DailyCount.label, DailyCount.count).where(
                in_range
            )
        ).all()
        talks = DailyConversation.day.between(first_day, last_day)
        per_day = dict(
            session.execute(
                select(DailyConversation.day, func.count())
                .where(talks)
                .group_by(DailyConversation.day)
            )
            .tuples()
            .all()
        )
        distinct = session.scalar(
            select(func.count(func.distinct(DailyConversation.conversation_id))).where(talks)
        )

    def empty() -> Dict[str, Dict[str, int]]:
        return defaultdict(lambda: defaultdict(int))

    by_day: Dict[date, Dict[str, Dict[str, int]]] = defaultdict(empty)
    total = empty()
    for day, figure, label, n in rows:
        by_day[day][figure][label] += n
        total[figure][label] += n
    listed = [
        _figures(day, day, int(per_day.get(day, 0)), by_day[day])
        for day in (first_day + timedelta(days=i) for i in range(days))
    ]
    return FiguresRange(days=listed, total=_figures(first_day, last_day, int(distinct or 0), total))


__all__ = ["MAX_DAYS", "DayFigures", "FiguresRange", "figures", "prune_receipts", "record"]
