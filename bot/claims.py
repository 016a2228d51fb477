"""Claims in the database: open, move along the return flow, read.

Every read is scoped by the buyer (through the claim's order), like
:mod:`bot.orders`: a claim of another buyer is never found. The one-claim-
per-order rule (W8) is the database's unique constraint on
``claims.order_id``: :func:`insert_claim` lets the
:class:`~sqlalchemy.exc.IntegrityError` through, and the caller
(:func:`bot.services.open_claim`) reports the existing claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Dict, List, Optional, Sequence, Tuple

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from bot.claim_flow import (
    REFUND_ONLY_TYPES,
    Deadline,
    check_transition,
    claim_number,
    next_deadline,
)
from bot.db.models import Claim, ClaimEvent, Order
from bot.policy.engine import china_date
from bot.settings import RefundLimits


@dataclass(frozen=True)
class ClaimEventView:
    """One recorded step of a claim.

    Attributes:
        status: The status reached.
        at: When (aware, UTC).
        actor: Who: ``buyer``, ``seller``, ``system``, ``platform`` or ``import``.
        note: A free note, if any.
    """

    status: str
    at: datetime
    actor: str
    note: Optional[str]


@dataclass(frozen=True)
class ClaimView:
    """A claim as the dialogue sees it (a plain, immutable value).

    Attributes:
        number: The claim number (售后单号).
        order_id: Its order.
        type: The intent name that opened it.
        status: Its status.
        opened_at: When it was opened (aware, UTC).
        reason: The buyer's reason, if given.
        evidence: The evidence checklist.
        return_tracking_no: The return's waybill number, if shipped.
        events: Every recorded step, oldest first.
        since: The China date it reached its status.
        deadline: The next time limit, if somebody is waited for.
    """

    number: str
    order_id: str
    type: str
    status: str
    opened_at: datetime
    reason: Optional[str]
    evidence: Tuple[str, ...]
    return_tracking_no: Optional[str]
    events: Tuple[ClaimEventView, ...]
    since: date
    deadline: Optional[Deadline]


def _scoped(buyer_id: str) -> Select[Claim]:
    """Return a query of the claims on ``buyer_id``'s orders, events loaded."""
    return (
        select(Claim)
        .join(Order, Order.order_id == Claim.order_id)
        .where(Order.buyer_id == buyer_id)
        .options(selectinload(Claim.events), selectinload(Claim.order))
    )


def claim_of_order(session: Session, buyer_id: str, order_id: str) -> Optional[Claim]:
    """Return the claim of the buyer's order ``order_id``, if there is one."""
    return session.scalars(_scoped(buyer_id).where(Claim.order_id == order_id)).one_or_none()


def claim_by_number(session: Session, buyer_id: str, number: str) -> Optional[Claim]:
    """Return the buyer's claim numbered ``number``, if there is one."""
    return session.scalars(_scoped(buyer_id).where(Claim.number == number)).one_or_none()


def signed_not_refunded(session: Session, buyer_id: str) -> List[Claim]:
    """Return the buyer's claims whose return the seller signed but did not refund (E6)."""
    statement = _scoped(buyer_id).where(Claim.status == "seller_signed").order_by(Claim.id)
    return list(session.scalars(statement))


def insert_claim(
    session: Session,
    *,
    order_id: str,
    claim_type: str,
    reason: Optional[str],
    evidence: Sequence[str],
    decision: Dict[str, Any],
    actor: str,
    now: datetime,
) -> Claim:
    """Insert a ``requested`` claim and its first event, and flush.

    Raises:
        sqlalchemy.exc.IntegrityError: The order already has a claim (W8),
            raised by the database's unique constraint at the flush.
    """
    claim = Claim(
        number=claim_number(order_id),
        order_id=order_id,
        type=claim_type,
        status="requested",
        opened_at=now,
        reason=reason,
        evidence=list(evidence),
        decision=decision,
    )
    claim.events.append(ClaimEvent(status="requested", at=now, actor=actor))
    session.add(claim)
    session.flush()
    return claim


def advance(
    session: Session,
    claim: Claim,
    target: str,
    *,
    actor: str,
    now: datetime,
    note: Optional[str] = None,
    return_tracking_no: Optional[str] = None,
) -> None:
    """Move ``claim`` to ``target`` and record the step.

    Raises:
        bot.claim_flow.TransitionError: The flow does not allow the step, or
            not to ``actor``; nothing changes.
    """
    check_transition(claim.status, target, actor)
    claim.status = target
    if return_tracking_no is not None:
        claim.return_tracking_no = return_tracking_no
    claim.events.append(ClaimEvent(status=target, at=now, actor=actor, note=note))
    session.flush()


def view(claim: Claim, limits: RefundLimits, refund_days: int) -> ClaimView:
    """Return the plain view of ``claim`` with its next deadline.

    Args:
        claim: A claim loaded with its events and order.
        limits: The shop's refund-step time limits.
        refund_days: Days the seller has to refund a signed return (N4).
    """
    events = tuple(ClaimEventView(e.status, e.at, e.actor, e.note) for e in claim.events)
    entered = next(
        (event.at for event in reversed(events) if event.status == claim.status),
        claim.opened_at,
    )
    since = china_date(entered)
    deadline = next_deadline(
        claim.status,
        since,
        limits,
        refund_only=claim.type in REFUND_ONLY_TYPES,
        order_shipped=claim.order.shipped_at is not None,
        refund_days=refund_days,
    )
    return ClaimView(
        number=claim.number,
        order_id=claim.order_id,
        type=claim.type,
        status=claim.status,
        opened_at=claim.opened_at,
        reason=claim.reason,
        evidence=tuple(claim.evidence or ()),
        return_tracking_no=claim.return_tracking_no,
        events=events,
        since=since,
        deadline=deadline,
    )


__all__ = [
    "ClaimEventView",
    "ClaimView",
    "advance",
    "claim_by_number",
    "claim_of_order",
    "insert_claim",
    "signed_not_refunded",
    "view",
]
