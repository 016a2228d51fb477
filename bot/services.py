"""Use cases the entrypoints (actions, CLI, agent assistant) call.

Each function opens its own unit of work on the database named by the
settings and returns plain values; callers never see a session or SQL.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.claim_flow import TransitionError
from bot.claims import (
    ClaimView,
    advance,
    claim_by_number,
    claim_of_order,
    insert_claim,
    signed_not_refunded,
)
from bot.claims import view as claim_view
from bot.db.models import CLAIM_TYPES, Claim, EvidenceFile, Order
from bot.db.session import session_scope
from bot.evidence import (
    NO_OPEN_CLAIM,
    OK,
    ChecklistItem,
    check_upload,
    checklist,
    choose_item,
    is_open_claim,
)
from bot.orders import (
    OrderView,
    find_order_and_claim,
    find_shop_order_and_claim,
    normalize_order_id,
    recent_orders,
)
from bot.policy.engine import BuyerFacts, Decision, china_date, decide
from bot.policy.table import RuleTable, cached_table
from bot.settings import Settings
from bot.uploads import new_stored_name, remove, stored_path, write_atomically

logger = logging.getLogger(__name__)

#: How many recent orders a buyer is offered to choose from.
RECENT_ORDER_CHOICES = 5


@dataclass(frozen=True)
class OrderLookup:
    """The answer to "which order is the buyer talking about?".

    Attributes:
        outcome: ``found`` (``order`` is set), ``not_found`` (the id is not an
            order of this buyer, or not an order id at all), ``choose``
            (no id given; ``candidates`` lists the buyer's recent orders) or
            ``no_orders`` (no id given and the buyer has no orders).
        order: The order, when found.
        order_id: The id the buyer gave, normalised when possible.
        candidates: Recent orders to choose from.
        decided: When the look-up was asked to decide a problem and the
            order was found: the decision about it, as
            :func:`decide_for_order` gives it (read with the order, in one
            unit of work).
    """

    outcome: str
    order: Optional[OrderView] = None
    order_id: Optional[str] = None
    candidates: List[OrderView] = field(default_factory=list)
    decided: Optional[DecisionResult] = None


def _find_own(
    session: Session,
    owner_id: str,
    raw_order_id: Optional[str],
    find: Callable[
        [Session, str, str], Tuple[Optional[OrderView], Optional[Claim]]
    ] = find_order_and_claim,
    owner: str = "buyer",
) -> Tuple[Optional[str], Optional[OrderView], Optional[Claim]]:
    """Find an order of ``owner_id`` (a buyer, or with ``find`` a shop) and its claim.

    An order of somebody else and an order that does not exist take the same
    path (one query filtered by the owner) and log the same line.

    Returns:
        The id as normalised (or the raw text, cut), the order or None, and
        the order's claim or None.
    """
    raw = (raw_order_id or "").strip()
    order_id = normalize_order_id(raw)
    order, claim = find(session, owner_id, order_id) if order_id else (None, None)
    if order is None:
        logger.info("order %r not found for %s %r", (order_id or raw)[:40], owner, owner_id)
        return (order_id or raw[:40]) or None, None, None
    return order.order_id, order, claim


def lookup_order(
    settings: Settings,
    buyer_id: str,
    raw_order_id: Optional[str],
    problem: Optional[str] = None,
    facts: Optional[BuyerFacts] = None,
) -> OrderLookup:
    """Find the order a buyer means, only among the buyer's own orders.

    Args:
        settings: Process settings (the database URL).
        buyer_id: The verified buyer.
        raw_order_id: The id as the buyer wrote it, or None.
        problem: Also decide this problem about the order when it is found
            (``decided``), from the same read of the order and its claim.
        facts: What the buyer says or has (with ``problem``).

    Returns:
        The lookup outcome. A buyer with exactly one order gets it without
        naming it.

    Raises:
        bot.policy.engine.UnknownProblemError: ``problem`` is not in the table.
    """
    with session_scope(settings.db_url) as session:
        if raw_order_id is not None and raw_order_id.strip():
            order_id, order, claim = _find_own(session, buyer_id, raw_order_id)
            if order is None:
                return OrderLookup("not_found", order_id=order_id)
            decided = _decided(settings, order, claim, problem, facts) if problem else None
            return OrderLookup("found", order=order, order_id=order.order_id, decided=decided)
        candidates = recent_orders(session, buyer_id, limit=RECENT_ORDER_CHOICES)
        decided = None
        if len(candidates) == 1 and problem:
            _, order, claim = _find_own(session, buyer_id, candidates[0].order_id)
            if order is not None:
                decided = _decided(settings, order, claim, problem, facts)
    if not candidates:
        return OrderLookup("no_orders")
    if len(candidates) == 1:
        only = candidates[0]
        return OrderLookup("found", order=only, order_id=only.order_id, decided=decided)
    return OrderLookup("choose", candidates=candidates)


# --------------------------------------------------------------------------
# After-sales decisions and claims


@dataclass(frozen=True)
class DecisionResult:
    """The rule engine's answer about one of the buyer's orders.

    Attributes:
        outcome: ``decided`` (``order`` and ``decision`` are set) or
            ``not_found`` (not an order of this buyer).
        order_id: The id the buyer gave, normalised when possible.
        order: The order.
        decision: The decision.
        claim: The order's claim, if it has one.
    """

    outcome: str
    order_id: Optional[str]
    order: Optional[OrderView] = None
    decision: Optional[Decision] = None
    claim: Optional[ClaimView] = None


@dataclass(frozen=True)
class OpenClaimResult:
    """The answer to "open a claim on this order".

    Attributes:
        outcome: ``opened``; ``already_opened`` (``claim`` is the existing
            one, W8); ``not_allowed`` (the decision does not allow a claim:
            see ``decision``); ``not_found`` (not an order of this buyer);
            ``not_a_claim`` (the problem is not an intent that opens one).
        order_id: The id the buyer gave, normalised when possible.
        claim: The claim opened, or the one that already exists.
        decision: The decision the answer rests on.
    """

    outcome: str
    order_id: Optional[str]
    claim: Optional[ClaimView] = None
    decision: Optional[Decision] = None


@dataclass(frozen=True)
class ClaimChange:
    """The answer to "move this claim along the return flow".

    Attributes:
        outcome: ``moved``, ``not_found`` (not a claim of this buyer) or
            ``not_allowed`` (the flow has no such step for this actor).
        claim: The claim after the step (or unchanged when not allowed).
        problem: Why the step is not allowed (English, for logs).
    """

    outcome: str
    claim: Optional[ClaimView] = None
    problem: Optional[str] = None


@dataclass(frozen=True)
class OrderClaims:
    """An order's claims with their status.

    Attributes:
        outcome: ``found`` or ``not_found`` (not an order of this buyer).
        order_id: The id the buyer gave, normalised when possible.
        claims: The claims (at most one, W8).
    """

    outcome: str
    order_id: Optional[str]
    claims: List[ClaimView] = field(default_factory=list)


def policy_table(settings: Settings) -> RuleTable:
    """Return the rule table of the settings, read once per process."""
    return cached_table(settings.policy_file)


def _refund_days(table: RuleTable) -> int:
    return table.floors["N4"].days or 0


def _claim_view(settings: Settings, claim: Claim) -> ClaimView:
    return claim_view(claim, settings.refund_limits, _refund_days(policy_table(settings)))


def _with_claim(facts: BuyerFacts, claim: Optional[Claim]) -> BuyerFacts:
    """Add what the order's claim says to the buyer's facts (W8, E6)."""
    if claim is None:
        return facts
    signed_on = facts.return_signed_on
    if signed_on is None and claim.status == "seller_signed":
        signed_at = next(
            (e.at for e in reversed(claim.events) if e.status == "seller_signed"),
            claim.opened_at,
        )
        signed_on = china_date(signed_at)
    return replace(
        facts,
        dispute_used=True,
        return_signed_on=signed_on,
        return_waybill=facts.return_waybill or claim.return_tracking_no,
    )


def _decide_in(
    settings: Settings,
    session: Session,
    buyer_id: str,
    raw_order_id: Optional[str],
    problem: str,
    facts: BuyerFacts,
) -> Tuple[Optional[str], Optional[OrderView], Optional[Claim], Optional[Decision]]:
    """Find the buyer's order and its claim, and decide; all None when not found."""
    order_id, order, claim = _find_own(session, buyer_id, raw_order_id)
    if order is None:
        return order_id, None, None, None
    return order_id, order, claim, _decision(settings, order, claim, problem, facts)


def _decision(
    settings: Settings, order: OrderView, claim: Optional[Claim], problem: str, facts: BuyerFacts
) -> Decision:
    """The rule engine's decision about a buyer's order, its claim's facts added."""
    return decide(
        policy_table(settings), order, problem, _with_claim(facts, claim), settings.today()
    )


def decide_for_order(
    settings: Settings,
    buyer_id: str,
    raw_order_id: Optional[str],
    problem: str,
    facts: Optional[BuyerFacts] = None,
) -> DecisionResult:
    """Decide what the buyer can do about ``problem`` with one of their orders.

    The order's claim, if any, adds its facts: a dispute was used (W8), and
    when the seller signed for the return, that date and the waybill (E6).

    Args:
        settings: Process settings (database, rule table, today).
        buyer_id: The verified buyer.
        raw_order_id: The order id as the buyer wrote it.
        problem: An intent name of ``shared/spec/intents.md``.
        facts: What the buyer says or has.

    Returns:
        The decision, or ``not_found`` for an id that is not the buyer's order.

    Raises:
        bot.policy.engine.UnknownProblemError: ``problem`` is not in the table.
    """
    with session_scope(settings.db_url) as session:
        order_id, order, claim = _find_own(session, buyer_id, raw_order_id)
        if order is None:
            return DecisionResult("not_found", order_id)
        return _decided(settings, order, claim, problem, facts)


def _decided(
    settings: Settings,
    order: OrderView,
    claim: Optional[Claim],
    problem: str,
    facts: Optional[BuyerFacts],
) -> DecisionResult:
    """Decide ``problem`` about a buyer's order found with its claim (inside its unit of work)."""
    decision = _decision(settings, order, claim, problem, facts or BuyerFacts())
    view = _claim_view(settings, claim) if claim is not None else None
    return DecisionResult("decided", order.order_id, order, decision, view)


def shop_order_decision(
    settings: Settings,
    shop_id: str,
    raw_order_id: Optional[str],
    problem: Optional[str] = None,
    facts: Optional[BuyerFacts] = None,
) -> DecisionResult:
    """Decide about an order of the seller's own shop, as the seller sees it.

    Args:
        settings: Process settings.
        shop_id: The verified seller's shop (the token's subject).
        raw_order_id: The order id as the seller wrote it.
        problem: The intent asked about; None: the type of the order's claim,
            or a return (``return_goods``) when it has none.
        facts: What the seller says about the case.

    Returns:
        The decision and the order's claim, or ``not_found`` for an id that
        is not an order of this shop (the same answer as a missing order).
    """
    with session_scope(settings.db_url) as session:
        order_id, order, claim = _find_own(
            session, shop_id, raw_order_id, find_shop_order_and_claim, "shop"
        )
        if order is None:
            return DecisionResult("not_found", order_id)
        asked = problem or (claim.type if claim is not None else "return_goods")
        # The seller sees the rules for the case itself: the claim's facts
        # count, but not as a second dispute (W8 is the buyer's limit).
        seen = replace(_with_claim(facts or BuyerFacts(), claim), dispute_used=False)
        decision = decide(policy_table(settings), order, asked, seen, settings.today())
        view = _claim_view(settings, claim) if claim is not None else None
    return DecisionResult("decided", order.order_id, order, decision, view)


def _existing_claim(settings: Settings, buyer_id: str, order_id: str) -> Optional[ClaimView]:
    with session_scope(settings.db_url) as session:
        claim = claim_of_order(session, buyer_id, order_id)
        return _claim_view(settings, claim) if claim is not None else None


def open_claim(
    settings: Settings,
    buyer_id: str,
    raw_order_id: Optional[str],
    problem: str,
    facts: Optional[BuyerFacts] = None,
    reason: Optional[str] = None,
) -> OpenClaimResult:
    """Open a claim (type = ``problem``) on the buyer's order if the rules allow it.

    The claim records the buyer's reason, the evidence checklist of the E
    rule that applied and the decision as JSON. One claim per order (W8) is
    the database's unique constraint: when another opener wins the race,
    the answer is ``already_opened`` with the winner's number and status.

    Args:
        settings: Process settings.
        buyer_id: The verified buyer.
        raw_order_id: The order id as the buyer wrote it.
        problem: The intent name; it must be one that opens a claim.
        facts: What the buyer says or has.
        reason: The buyer's own words, kept with the claim.

    Returns:
        The outcome, the claim and the decision.
    """
    if problem not in CLAIM_TYPES:
        return OpenClaimResult("not_a_claim", raw_order_id)
    order: Optional[OrderView] = None
    decision: Optional[Decision] = None
    try:
        with session_scope(settings.db_url) as session:
            order_id, order, existing, decision = _decide_in(
                settings, session, buyer_id, raw_order_id, problem, facts or BuyerFacts()
            )
            if order is None or decision is None:
                return OpenClaimResult("not_found", order_id)
            if existing is not None:
                view = _claim_view(settings, existing)
                return OpenClaimResult("already_opened", order.order_id, view, decision)
            if not decision.can_open_claim:
                return OpenClaimResult("not_allowed", order.order_id, None, decision)
            claim = insert_claim(
                session,
                order_id=order.order_id,
                claim_type=problem,
                reason=reason,
                evidence=decision.evidence,
                decision=decision.to_json(),
                actor="buyer",
                now=settings.now(),
            )
            view = _claim_view(settings, claim)
    except IntegrityError:
        if order is None:
            raise
        winner = _existing_claim(settings, buyer_id, order.order_id)
        if winner is None:
            raise
        logger.info("claim on order %s already opened as %s", order.order_id, winner.number)
        return OpenClaimResult("already_opened", order.order_id, winner, decision)
    logger.info("claim %s opened on order %s", view.number, order.order_id)
    return OpenClaimResult("opened", order.order_id, view, decision)


def advance_claim(
    settings: Settings,
    buyer_id: str,
    number: str,
    target: str,
    *,
    actor: str,
    note: Optional[str] = None,
    return_tracking_no: Optional[str] = None,
) -> ClaimChange:
    """Move one of the buyer's claims a step along the return flow.

    Args:
        settings: Process settings.
        buyer_id: The buyer whose order the claim is on.
        number: The claim number.
        target: The status to reach.
        actor: Who takes the step (``buyer``, ``seller``, ``system``,
            ``platform``).
        note: A note for the record.
        return_tracking_no: The return's waybill (when the buyer ships).

    Returns:
        The outcome and the claim with its next deadline.
    """
    with session_scope(settings.db_url) as session:
        claim = claim_by_number(session, buyer_id, number)
        if claim is None:
            logger.info("claim %s not found for buyer %s", number[:40], buyer_id)
            return ClaimChange("not_found")
        try:
            advance(
                session,
                claim,
                target,
                actor=actor,
                now=settings.now(),
                note=note,
                return_tracking_no=return_tracking_no,
            )
        except TransitionError as exc:
            return ClaimChange("not_allowed", _claim_view(settings, claim), str(exc))
        return ClaimChange("moved", _claim_view(settings, claim))


def order_claims(settings: Settings, buyer_id: str, raw_order_id: Optional[str]) -> OrderClaims:
    """Return the claims of one of the buyer's orders, with status and deadline."""
    with session_scope(settings.db_url) as session:
        order_id, order, claim = _find_own(session, buyer_id, raw_order_id)
        if order is None:
            return OrderClaims("not_found", order_id)
        claims = [_claim_view(settings, claim)] if claim is not None else []
    return OrderClaims("found", order.order_id, claims)


def unrefunded_returns(settings: Settings, buyer_id: str) -> List[ClaimView]:
    """Return the buyer's claims whose return was signed for but not refunded (E6).

    Each view's deadline is the seller's refund deadline (N4): past it, the
    buyer may ask 客服介入 with the return waybill.
    """
    with session_scope(settings.db_url) as session:
        return [_claim_view(settings, claim) for claim in signed_not_refunded(session, buyer_id)]


def buyer_recent_orders(
    settings: Settings, buyer_id: str, limit: int = RECENT_ORDER_CHOICES
) -> List[OrderView]:
    """Return the buyer's most recent orders (for "which order?")."""
    with session_scope(settings.db_url) as session:
        return recent_orders(session, buyer_id, limit=limit)


@dataclass(frozen=True)
class EvidenceView:
    """An attached evidence photo, as the console and the widget see it.

    Attributes:
        id: The record's id (the agent console fetches the file by it).
        claim_number: The claim it belongs to.
        order_id: The claim's order.
        stored_name: The generated file name.
        mime: The sniffed image type.
        size: Size in bytes.
        sha256: Hex digest of the content.
        uploaded_at: When (aware, UTC).
        item: The checklist item it ticks off, if any.
    """

    id: int
    claim_number: str
    order_id: str
    stored_name: str
    mime: str
    size: int
    sha256: str
    uploaded_at: datetime
    item: Optional[str]


@dataclass(frozen=True)
class AttachResult:
    """The answer to "attach this photo to my open claim".

    Attributes:
        outcome: One of :data:`bot.evidence.OUTCOMES`; only ``ok`` stored
            anything.
        file: The stored photo, when ``ok``.
        checklist: The claim's checklist after the upload, when ``ok``.
    """

    outcome: str
    file: Optional[EvidenceView] = None
    checklist: Tuple[ChecklistItem, ...] = ()


@dataclass(frozen=True)
class ClaimEvidence:
    """A claim's evidence for the agent console.

    Attributes:
        claim_number: The claim.
        status: Its status.
        checklist: Its checklist with what is ticked off.
        files: The attached photos, oldest first.
    """

    claim_number: str
    status: str
    checklist: Tuple[ChecklistItem, ...]
    files: Tuple[EvidenceView, ...]


def _evidence_view(claim: Claim, row: EvidenceFile) -> EvidenceView:
    return EvidenceView(
        id=row.id,
        claim_number=claim.number,
        order_id=claim.order_id,
        stored_name=row.stored_name,
        mime=row.mime,
        size=row.size,
        sha256=row.sha256,
        uploaded_at=row.uploaded_at,
        item=row.item,
    )


def _claim_files(session: Session, claim: Claim) -> List[EvidenceFile]:
    statement = select(EvidenceFile).where(EvidenceFile.claim_id == claim.id)
    return list(session.scalars(statement.order_by(EvidenceFile.id)))


def _own_claim(session: Session, buyer_id: str, reference: str) -> Optional[Claim]:
    """The buyer's claim named by an order id or a claim number, if any."""
    order_id = normalize_order_id(reference)
    if order_id is not None:
        return claim_of_order(session, buyer_id, order_id)
    number = reference.strip().upper()
    if number.isascii() and number.isalnum():
        return claim_by_number(session, buyer_id, number)
    return None


def attach_evidence(
    settings: Settings,
    buyer_id: str,
    reference: str,
    data: bytes,
    item: Optional[str] = None,
) -> AttachResult:
    """Attach a photo to the buyer's open claim and tick off its checklist.

    The content is checked first (not empty, within
    ``settings.upload_max_bytes``, a JPEG/PNG/WebP by its magic bytes); then
    the claim is looked up, scoped by the buyer (another buyer's claim is
    not found) and it must still be open. The photo is written atomically
    under a generated name in ``settings.upload_dir`` and recorded; when the
    record fails the file is removed again, so a failure stores nothing.

    Args:
        settings: Process settings.
        buyer_id: The verified buyer.
        reference: The claim's order id or claim number, as the buyer gave it.
        data: The photo's bytes.
        item: The checklist item it is for; the first one not yet ticked
            off when omitted.

    Returns:
        The outcome, and on ``ok`` the stored photo and the new checklist.
    """
    verdict, mime = check_upload(data, settings.upload_max_bytes)
    if verdict != OK or mime is None:
        logger.info("evidence from %s refused: %s (%d bytes)", buyer_id, verdict, len(data))
        return AttachResult(verdict)
    stored_name: Optional[str] = None
    try:
        with session_scope(settings.db_url) as session:
            claim = _own_claim(session, buyer_id, reference)
            if claim is None or not is_open_claim(claim.status):
                logger.info("evidence from %s refused: no open claim", buyer_id)
                return AttachResult(NO_OPEN_CLAIM)
            rows = _claim_files(session, claim)
            items = list(claim.evidence or ())
            verdict, chosen = choose_item(items, (row.item for row in rows), item)
            if verdict != OK:
                logger.info("evidence from %s refused: %s", buyer_id, verdict)
                return AttachResult(verdict)
            stored_name = new_stored_name(mime)
            write_atomically(settings.upload_dir, stored_name, data)
            row = EvidenceFile(
                claim_id=claim.id,
                buyer_id=buyer_id,
                stored_name=stored_name,
                mime=mime,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                uploaded_at=settings.now(),
                item=chosen,
            )
            session.add(row)
            session.flush()
            rows.append(row)
            result = AttachResult(
                OK, _evidence_view(claim, row), checklist(items, (r.item for r in rows))
            )
    except BaseException:
        if stored_name is not None:
            remove(settings.upload_dir, stored_name)
        raise
    logger.info(
        "evidence %s attached to claim %s", stored_name, result.file and result.file.claim_number
    )
    return result


def claim_evidence(settings: Settings, order_id: str) -> Optional[ClaimEvidence]:
    """Return the evidence of an order's claim, for the agent console.

    Agents see every buyer's claims; the order id must be well formed.

    Returns:
        The claim's checklist and photos; None when the order has no claim.
    """
    normalized = normalize_order_id(order_id)
    if normalized is None:
        return None
    with session_scope(settings.db_url) as session:
        claim = session.scalars(
            select(Claim).join(Order).where(Order.order_id == normalized)
        ).one_or_none()
        if claim is None:
            return None
        rows = _claim_files(session, claim)
        return ClaimEvidence(
            claim_number=claim.number,
            status=claim.status,
            checklist=checklist(list(claim.evidence or ()), (row.item for row in rows)),
            files=tuple(_evidence_view(claim, row) for row in rows),
        )


def evidence_file(settings: Settings, file_id: int) -> Optional[Tuple[EvidenceView, Path]]:
    """Return an evidence photo's record and path, for the agent console.

    Returns:
        The record and the file's path; None when there is no such record
        or its file is missing.
    """
    with session_scope(settings.db_url) as session:
        row = session.get(EvidenceFile, file_id)
        if row is None:
            return None
        claim = session.get(Claim, row.claim_id)
        if claim is None:
            return None
        view = _evidence_view(claim, row)
    path = stored_path(settings.upload_dir, view.stored_name)
    if not path.is_file():
        logger.warning("evidence file %s is recorded but missing on disk", view.stored_name)
        return None
    return view, path
