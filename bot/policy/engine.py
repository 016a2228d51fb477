"""The after-sales rule engine: a pure function from facts to a decision.

:func:`decide` takes the rule table (:class:`~bot.policy.table.RuleTable`),
the order's facts, the buyer's problem (an intent name of
``shared/spec/intents.md``), what the buyer says or has
(:class:`BuyerFacts`) and today's date, and returns a :class:`Decision`: the
route, whether the buyer is eligible and may open a claim, the window's dates
and days left, who pays each postage leg, the evidence needed, the next steps
and the rule ids it used. It does no I/O and reads no clock.

Dates follow ``shared/spec/policy.md``: a window of N days starting on day D
(the China date of ``completed_at``, or of ``delivered_at`` for N1) is open
through the end of day ``D + N``; ``days_left`` is 0 on that last day and
negative once the window has closed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Optional, Protocol, Tuple

from bot.policy.table import RuleTable
from bot.settings import SHOP_TZ

#: Problem kinds that claim a defect the seller answers for.
_FAULT_KINDS = ("quality", "transit_damage", "wrong_item")
#: Problem kinds that ask for a return or exchange without a defect.
_NO_REASON_KINDS = ("change_of_mind", "size", "exchange")
#: Order statuses before 交易成功 in which the buyer has paid.
_IN_TRANSACTION = ("paid", "shipped", "delivered")


class UnknownProblemError(ValueError):
    """The problem is not an intent the rule table maps to a problem kind."""


class OrderFacts(Protocol):
    """What the engine reads of an order (:class:`bot.orders.OrderView` fits)."""

    @property
    def category(self) -> str:
        """One of the categories of ``shared/spec/orders.md``."""

    @property
    def status(self) -> str:
        """The order status."""

    @property
    def no_reason_return(self) -> bool:
        """Whether 七天无理由 applies (N1/N2)."""

    @property
    def free_shipping(self) -> bool:
        """Whether the item shipped free (包邮, N3)."""

    @property
    def delivered_at(self) -> Optional[datetime]:
        """签收, timezone-aware."""

    @property
    def completed_at(self) -> Optional[datetime]:
        """交易成功, timezone-aware."""

    @property
    def usage_term_days(self) -> Optional[int]:
        """The promised usage term of virtual goods."""


@dataclass(frozen=True)
class BuyerFacts:
    """What the buyer says or has; every field defaults to "not said".

    Attributes:
        complaint: A complaint code (the Q1/Q2 lists of the table), e.g.
            ``fit`` or ``loose_threads``.
        quality_problem: The buyer states a defect (for return, exchange,
            size and general questions).
        has_photos: Whether the buyer has photos (False: said they have none).
        photos_confirm_quality: The photos confirm the defect (F4).
        wants_replacement: The buyer wants a replacement, not a refund (F4).
        goods_intact: False when tags are cut, a one-time seal is broken, or
            the item is activated or soiled (N1).
        returned_without_contact: Sent back without contacting the shop (Q5).
        buyer_damaged: The buyer caused the damage (Q5).
        agreed_payer: The postage payer both sides agreed on (F6).
        agreed_before_platform: A return was agreed before the platform
            stepped in (N5).
        postage_due: The buyer means to send the return postage-due (F8).
        seller_agreed_postage_due: The seller agreed to 到付 beforehand (N9).
        unclear_fault: Both sides dispute whose fault it is (F7).
        penalty_decision: An administrative penalty decision or court ruling
            about the counterfeit exists (N7).
        seller_refused: The seller refused the refund (W7).
        dispute_used: A dispute was already opened on this order (W8).
        return_signed_on: The China date the seller signed for the return
            (E6, N4).
        return_waybill: The return's waybill number (E6).
    """

    complaint: Optional[str] = None
    quality_problem: Optional[bool] = None
    has_photos: Optional[bool] = None
    photos_confirm_quality: bool = False
    wants_replacement: bool = False
    goods_intact: Optional[bool] = None
    returned_without_contact: bool = False
    buyer_damaged: bool = False
    agreed_payer: Optional[str] = None
    agreed_before_platform: bool = False
    postage_due: bool = False
    seller_agreed_postage_due: bool = False
    unclear_fault: bool = False
    penalty_decision: bool = False
    seller_refused: bool = False
    dispute_used: bool = False
    return_signed_on: Optional[date] = None
    return_waybill: Optional[str] = None


@dataclass(frozen=True)
class PostageLeg:
    """Who pays one leg of postage, and by which rule.

    Attributes:
        leg: ``outbound``, ``return`` or ``resend``.
        payer: ``seller``, ``buyer``, ``agreed`` or ``dispute``.
        rule: The rule id that decided it.
        leg_name: The leg's name from the table.
        payer_name: The payer's name from the table.
    """

    leg: str
    payer: str
    rule: str
    leg_name: str
    payer_name: str


@dataclass(frozen=True)
class Decision:
    """The engine's answer for one order and one problem.

    Attributes:
        problem: The intent name asked about.
        kind: The problem kind the engine settled on (after Q1/Q2).
        route: A route code of the table.
        route_name: The route's name from the table.
        eligible: The buyer has a remedy on this route now.
        can_open_claim: A platform claim may be opened now.
        reason: A reason code of the table.
        reason_text: Its text.
        window_start: First day of the window that applies, if any.
        window_end: Last open day of that window (None: no deadline).
        days_left: ``window_end - today`` in days (0 on the last day,
            negative once closed), None without a deadline.
        postage: Who pays each leg.
        postage_due_refused: A postage-due (到付) return would be refused.
        evidence_rule: The E rule whose evidence is needed, if any.
        evidence: The evidence items.
        evidence_any_of: One of the items is enough.
        next_steps: Where to click and what to do, in order.
        rules: The rule ids used, in the order they were applied.
    """

    problem: str
    kind: str
    route: str
    route_name: str
    eligible: bool
    can_open_claim: bool
    reason: str
    reason_text: str
    window_start: Optional[date]
    window_end: Optional[date]
    days_left: Optional[int]
    postage: Tuple[PostageLeg, ...]
    postage_due_refused: bool
    evidence_rule: Optional[str]
    evidence: Tuple[str, ...]
    evidence_any_of: bool
    next_steps: Tuple[str, ...]
    rules: Tuple[str, ...]

    def payer(self, leg: str) -> Optional[str]:
        """Return the payer code of ``leg``, or None when no one pays it."""
        for item in self.postage:
            if item.leg == leg:
                return item.payer
        return None

    def to_json(self) -> Dict[str, Any]:
        """Return the decision as JSON-ready values (dates as ISO strings)."""
        data = asdict(self)
        for key in ("window_start", "window_end"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        data["postage"] = [asdict(item) for item in self.postage]
        data["evidence"] = list(self.evidence)
        data["next_steps"] = list(self.next_steps)
        data["rules"] = list(self.rules)
        return data


@dataclass
class _Draft:
    """A decision under construction."""

    kind: str
    route: str = "not_accepted"
    eligible: bool = False
    reason: str = "window_closed"
    start: Optional[date] = None
    end: Optional[date] = None
    postage: List[PostageLeg] = field(default_factory=list)
    postage_due_refused: bool = False
    evidence_rule: Optional[str] = None
    extra_evidence: Tuple[str, ...] = ()
    steps: List[str] = field(default_factory=list)
    rules: List[str] = field(default_factory=list)
    can_open: Optional[bool] = None

    def window(self, rule: str, start: date, days: int, today: date) -> bool:
        """Record the window ``rule`` of ``days`` days from ``start``; return True if open."""
        self.rules.append(rule)
        self.start = start
        self.end = start + timedelta(days=days)
        return today <= self.end

    def route_to(self, route: str, reason: str, eligible: bool = True) -> None:
        """Set the route and reason."""
        self.route, self.reason, self.eligible = route, reason, eligible


def china_date(moment: datetime) -> date:
    """Return the Asia/Shanghai calendar date of an aware datetime."""
    return moment.astimezone(SHOP_TZ).date()


def _kind(table: RuleTable, problem: str, facts: BuyerFacts, draft_rules: List[str]) -> str:
    """Return the problem kind, after the buyer's facts and Q1/Q2."""
    try:
        kind = table.problems[problem]
    except KeyError:
        raise UnknownProblemError(f"no problem kind for the intent {problem!r}") from None
    if kind == "general":
        kind = "quality" if facts.quality_problem else "change_of_mind"
    elif kind in _NO_REASON_KINDS and facts.quality_problem:
        kind = "quality"
    if kind in ("quality", "transit_damage") and facts.complaint is not None:
        for rule_id in ("Q1", "Q2"):
            if facts.complaint in table.quality[rule_id].not_quality:
                draft_rules.append(rule_id)
                return "size" if facts.complaint == "fit" else "change_of_mind"
    return kind


def _q5(table: RuleTable, draft: _Draft, facts: BuyerFacts) -> bool:
    """Apply Q5 to a claimed defect; return True when it refuses the claim."""
    if facts.returned_without_contact:
        reason = "returned_without_contact"
    elif facts.buyer_damaged:
        reason = "buyer_damage"
    elif facts.has_photos is False:
        reason = "photos_required"
        draft.steps.append(table.steps["take_photos"])
        draft.evidence_rule = "E1"
    else:
        return False
    draft.rules.append("Q5")
    draft.route_to("not_accepted", reason, eligible=False)
    return True


def _postage(table: RuleTable, draft: _Draft, order: OrderFacts, facts: BuyerFacts) -> None:
    """Decide who pays each leg: F table in order (F6 first), N3, N5, F8/N9."""
    kind = draft.kind
    situations = set()
    if facts.agreed_payer:
        situations.add("agreed")
    if kind == "wrong_item":
        situations.add("wrong_item")
    if kind in ("quality", "transit_damage") or draft.route == "counterfeit":
        situations.add("quality")
        if facts.photos_confirm_quality and facts.wants_replacement:
            situations.add("quality_replacement")
    if facts.unclear_fault:
        situations.add("unclear")
    if kind == "size":
        situations.add("size_exchange")
    if kind in ("change_of_mind", "exchange"):
        situations.add("change_of_mind")
    legs: Dict[str, Tuple[str, str]] = {}
    row = next((row for row in table.postage if row.situation in situations), None)
    if draft.route == "no_reason_return" and (row is None or row.situation != "agreed"):
        legs["outbound"] = ("seller" if order.free_shipping else "buyer", "N3")
        legs["return"] = ("buyer", "N3")
        if kind in ("size", "exchange"):
            legs["resend"] = ("buyer", "N3")
    elif row is not None:
        for row_leg, row_payer in row.legs.items():
            payer_code: str = row_payer
            if row_payer == "agreed" and facts.agreed_payer in ("seller", "buyer"):
                payer_code = facts.agreed_payer
            legs[row_leg] = (payer_code, row.id)
        draft.extra_evidence = row.evidence
    if facts.agreed_before_platform and not facts.agreed_payer:
        for leg_code, (payer_code, _) in list(legs.items()):
            if leg_code != "outbound" and payer_code == "buyer":
                legs[leg_code] = ("seller", "N5")
    for leg_code, (payer_code, rule) in legs.items():
        draft.rules.append(rule)
        draft.postage.append(
            PostageLeg(leg_code, payer_code, rule, table.legs[leg_code], table.payers[payer_code])
        )
    if facts.postage_due:
        if facts.seller_agreed_postage_due:
            draft.rules.append("N9")
        else:
            draft.rules.extend(("F8", "N9"))
            draft.postage_due_refused = True
            draft.steps.append(table.steps["no_postage_due"])


def _refund_progress(table: RuleTable, draft: _Draft, facts: BuyerFacts, today: date) -> None:
    """E6/N4: the return was signed for and not refunded."""
    draft.rules.append("E6")
    draft.evidence_rule = "E6"
    draft.route_to("after_sales", "refund_due")
    draft.can_open = False
    if facts.return_signed_on is None:
        draft.steps.append(table.steps["wait_refund"])
        return
    if draft.window("N4", facts.return_signed_on, table.floors["N4"].days or 0, today):
        draft.steps.append(table.steps["wait_refund"])
        return
    draft.reason = "refund_overdue"
    if facts.return_waybill:
        draft.steps.append(table.steps["intervention_with_waybill"])
        draft.can_open = True
    else:
        draft.steps.append(table.steps["negotiate_waybill"])


def _in_transaction(table: RuleTable, draft: _Draft, facts: BuyerFacts) -> None:
    """W7: before 交易成功, negotiate; 客服介入 when the seller refuses."""
    draft.rules.append("W7")
    draft.route_to("in_transaction", "in_transaction")
    draft.evidence_rule = {
        "quality": "E1",
        "transit_damage": "E1",
        "wrong_item": "E1",
        "counterfeit": "E3",
        "virtual": "E5",
    }.get(draft.kind)
    if facts.seller_refused:
        draft.steps.append(table.steps["ask_intervention"])


def _counterfeit(
    table: RuleTable, draft: _Draft, facts: BuyerFacts, success: date, today: date
) -> None:
    """W4 and N7: counterfeit goods."""
    draft.evidence_rule = "E3"
    is_open = draft.window("W4", success, table.windows["W4"].days or 0, today)
    if facts.penalty_decision:
        draft.rules.append("N7")
        draft.end = None
        draft.route_to("counterfeit", "no_deadline")
    elif is_open:
        draft.route_to("counterfeit", "window_open")
    else:
        draft.route_to("not_accepted", "window_closed", eligible=False)
        draft.steps.append(table.steps["get_penalty_decision"])


def _virtual(
    table: RuleTable, draft: _Draft, order: OrderFacts, success: date, today: date
) -> None:
    """W5: virtual goods, the shorter of the window and the usage term; N2."""
    if draft.kind in _NO_REASON_KINDS:
        draft.rules.append("N2")
        draft.route_to("not_accepted", "not_returnable", eligible=False)
        return
    days = table.windows["W5"].days or 0
    if order.usage_term_days is not None and order.usage_term_days < days:
        days = order.usage_term_days
    draft.evidence_rule = "E5"
    if draft.window("W5", success, days, today):
        draft.route_to("virtual_goods", "window_open")
    else:
        draft.route_to("not_accepted", "window_closed", eligible=False)


def _fault(
    table: RuleTable,
    draft: _Draft,
    order: OrderFacts,
    facts: BuyerFacts,
    success: date,
    today: date,
) -> None:
    """W1, then W2/W3 with W6 and N8: a defect the seller answers for."""
    if draft.kind == "transit_damage":
        draft.rules.extend(("Q4", "N6"))
        draft.steps.append(table.steps["refuse_damaged"])
    if _q5(table, draft, facts):
        return
    if draft.window("W1", success, table.windows["W1"].days or 0, today):
        draft.route_to("after_sales", "window_open")
        draft.evidence_rule = "E2"
        return
    window_id = next(
        (w for w in ("W2", "W3") if order.category in table.windows[w].categories), None
    )
    if window_id is None or draft.kind != "quality":
        draft.route_to("not_accepted", "window_closed", eligible=False)
        return
    three_bao = table.windows[window_id]
    if not draft.window(window_id, success, three_bao.days or 0, today):
        draft.rules.append("N8")
        draft.route_to("statutory_repair", "statutory_repair")
        return
    draft.rules.append("W6")
    draft.evidence_rule = "E4"
    draft.route_to("three_guarantees", "window_open")
    if today <= success + timedelta(days=table.windows["W6"].days or 0):
        draft.steps.append(table.steps["reopen_entry"])
    else:
        draft.reason = "seller_service_only"
        draft.can_open = False
        draft.steps.append(table.steps["seller_service"])


def _no_reason(
    table: RuleTable,
    draft: _Draft,
    order: OrderFacts,
    facts: BuyerFacts,
    success: date,
    today: date,
) -> None:
    """N1/N2 and Q3, then W1: a return or exchange without a defect."""
    n2 = table.floors["N2"]
    if order.category in n2.always_excluded or not order.no_reason_return:
        if order.category in table.quality["Q3"].categories and not order.no_reason_return:
            draft.rules.append("Q3")
        draft.rules.append("N2")
        draft.route_to("not_accepted", "not_returnable", eligible=False)
        return
    if order.category in n2.excluded_when_marked:
        draft.rules.append("N2")  # marked goods, but this order allows returns
    signed = order.delivered_at or order.completed_at
    received = china_date(signed) if signed is not None else success
    n1_open = draft.window("N1", received, table.floors["N1"].days or 0, today)
    draft.start = received + timedelta(days=1)  # counted from the day after 签收
    if n1_open:
        if facts.goods_intact is False:
            draft.route_to("not_accepted", "goods_not_intact", eligible=False)
            return
        draft.route_to("no_reason_return", "window_open")
        return
    if draft.window("W1", success, table.windows["W1"].days or 0, today):
        draft.route_to("after_sales", "window_open")
    else:
        draft.route_to("not_accepted", "window_closed", eligible=False)


def _after_success(
    table: RuleTable, draft: _Draft, order: OrderFacts, facts: BuyerFacts, today: date
) -> None:
    """Dispatch an order after 交易成功 by its category and problem kind."""
    if order.completed_at is None:
        raise ValueError("a completed order needs completed_at")
    success = china_date(order.completed_at)
    if draft.kind == "counterfeit":
        _counterfeit(table, draft, facts, success, today)
    elif order.category == "virtual":
        _virtual(table, draft, order, success, today)
    elif draft.kind in _FAULT_KINDS or draft.kind == "virtual":
        if draft.kind == "virtual":
            draft.kind = "quality"
        _fault(table, draft, order, facts, success, today)
    else:
        _no_reason(table, draft, order, facts, success, today)


def decide(
    table: RuleTable,
    order: OrderFacts,
    problem: str,
    facts: BuyerFacts,
    today: date,
) -> Decision:
    """Decide what the buyer can do about ``problem`` with ``order``.

    Args:
        table: The validated rule table.
        order: The order's facts.
        problem: An intent name (``shared/spec/intents.md``) the table maps.
        facts: What the buyer says or has.
        today: Today's date in Asia/Shanghai.

    Returns:
        The decision.

    Raises:
        UnknownProblemError: ``problem`` is not in the table's problems.
        ValueError: A completed order has no ``completed_at``.
    """
    rules: List[str] = []
    kind = _kind(table, problem, facts, rules)
    draft = _Draft(kind=kind, rules=rules)
    if kind == "refund_progress" and order.status in (*_IN_TRANSACTION, "completed"):
        _refund_progress(table, draft, facts, today)
    elif order.status == "unpaid":
        draft.route_to("not_accepted", "not_paid", eligible=False)
    elif order.status == "closed":
        draft.route_to("not_accepted", "order_closed", eligible=False)
    elif order.status in _IN_TRANSACTION:
        _in_transaction(table, draft, facts)
    else:
        _after_success(table, draft, order, facts, today)
    ships = order.status != "paid" and draft.route != "statutory_repair"
    if draft.eligible and ships and kind != "refund_progress":
        _postage(table, draft, order, facts)
    if rules and rules[0] in ("Q1", "Q2") and not draft.eligible:
        draft.reason = "not_quality"
    return _finish(table, draft, problem, facts, today)


def _finish(
    table: RuleTable, draft: _Draft, problem: str, facts: BuyerFacts, today: date
) -> Decision:
    """Turn a draft into a :class:`Decision` (W8, evidence, texts, rule ids)."""
    route = table.routes[draft.route]
    can_open = draft.can_open if draft.can_open is not None else route.opens_claim
    can_open = can_open and draft.eligible
    reason = draft.reason
    if facts.dispute_used and draft.kind != "refund_progress" and can_open:
        draft.rules.append("W8")
        can_open = False
        reason = "dispute_used"
    evidence: Tuple[str, ...] = ()
    any_of = False
    if draft.evidence_rule is not None:
        rule = table.evidence[draft.evidence_rule]
        draft.rules.append(draft.evidence_rule)
        evidence, any_of = rule.items, rule.any_of
    evidence += tuple(item for item in draft.extra_evidence if item not in evidence)
    steps = route.steps + tuple(draft.steps)
    return Decision(
        problem=problem,
        kind=draft.kind,
        route=draft.route,
        route_name=route.name,
        eligible=draft.eligible,
        can_open_claim=can_open,
        reason=reason,
        reason_text=table.reasons[reason],
        window_start=draft.start,
        window_end=draft.end,
        days_left=(draft.end - today).days if draft.end is not None else None,
        postage=tuple(draft.postage),
        postage_due_refused=draft.postage_due_refused,
        evidence_rule=draft.evidence_rule,
        evidence=evidence,
        evidence_any_of=any_of,
        next_steps=steps,
        rules=tuple(dict.fromkeys(draft.rules)),
    )


__all__ = [
    "BuyerFacts",
    "Decision",
    "OrderFacts",
    "PostageLeg",
    "UnknownProblemError",
    "china_date",
    "decide",
]
