"""Table-driven tests of bot/policy/engine.py: every rule id is pinned by a case.

Each case names the rule it pins and, in its note, the one fact it pins; the
case fails when that rule's number, order or meaning changes. Unless a case
says otherwise the order is general goods, 包邮, 七天无理由, signed
(delivered) 2026-11-13 15:00 and completed 2026-11-16 23:30 China time; so
W1 runs 11-16 → 12-01 and N1 runs 11-14 → 11-20.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Dict, NamedTuple, Optional

import pytest

from bot.policy.engine import BuyerFacts, Decision, UnknownProblemError, china_date, decide
from bot.policy.table import RULE_IDS, RuleTable, load_table
from bot.settings import SHOP_TZ

SUCCESS = date(2026, 11, 16)
#: 2026-11-16 23:30 in China is 15:30 UTC the same day.
COMPLETED = datetime(2026, 11, 16, 15, 30, tzinfo=timezone.utc)
DELIVERED = datetime(2026, 11, 13, 15, 0, tzinfo=SHOP_TZ)


@dataclass(frozen=True)
class Order:
    """An order's facts, as the engine reads them."""

    category: str = "general"
    status: str = "completed"
    no_reason_return: bool = True
    free_shipping: bool = True
    delivered_at: Optional[datetime] = DELIVERED
    completed_at: Optional[datetime] = COMPLETED
    usage_term_days: Optional[int] = None


def day(n: int) -> date:
    """The n-th day after success (day 0 is the success date)."""
    return SUCCESS + timedelta(days=n)


class Case(NamedTuple):
    pins: str
    note: str
    problem: str
    today: date
    expect: Dict[str, Any]
    order: Dict[str, Any] = {}  # noqa: RUF012 - never mutated
    facts: Dict[str, Any] = {}  # noqa: RUF012 - never mutated


DURABLE = {"category": "durable_3bao"}
NONDURABLE = {"category": "nondurable_3bao"}
SIGNED = date(2026, 11, 20)

CASES = [
    # --- windows -----------------------------------------------------------
    Case("W1", "day 15 after success is the last open day of W1", "quality_issue", day(15),
         {"route": "after_sales", "eligible": True, "window_end": day(15), "days_left": 0}),
    Case("W1", "day 16 after success: W1 is closed", "quality_issue", day(16),
         {"route": "not_accepted", "eligible": False, "reason": "window_closed", "days_left": -1}),
    Case("W1", "23:30 China time (15:30 UTC) counts as that China date", "quality_issue", day(0),
         {"window_start": SUCCESS, "window_end": day(15)}),
    Case("W1", "00:30 China time (16:30 UTC the day before) counts as the China date",
         "quality_issue", day(0), {"window_start": day(1), "window_end": day(16)},
         order={"completed_at": datetime(2026, 11, 16, 16, 30, tzinfo=timezone.utc)}),
    Case("W2", "durable 三包 goods: day 180 is still the 三包 route", "quality_issue", day(180),
         {"route": "three_guarantees", "eligible": True, "window_end": day(180)}, DURABLE),
    Case("W2", "durable 三包 goods: day 181 is past W2 (statutory repair)", "quality_issue",
         day(181), {"route": "statutory_repair", "window_end": day(180)}, DURABLE),
    Case("W3", "non-durable 三包 goods: day 90 is the last day", "quality_issue", day(90),
         {"route": "three_guarantees", "window_end": day(90), "days_left": 0}, NONDURABLE),
    Case("W3", "non-durable 三包 goods: day 91 is past W3", "quality_issue", day(91),
         {"route": "statutory_repair", "eligible": True}, NONDURABLE),
    Case("W4", "counterfeit: day 90 is the last open day", "fake_goods", day(90),
         {"route": "counterfeit", "eligible": True, "days_left": 0}),
    Case("W4", "counterfeit: day 91 is closed without a penalty decision", "fake_goods", day(91),
         {"route": "not_accepted", "eligible": False, "window_end": day(90)}),
    Case("W5", "virtual goods with a 7-day usage term: W5 ends on day 7", "virtual_goods_issue",
         day(7), {"route": "virtual_goods", "window_end": day(7), "eligible": True},
         {"category": "virtual", "no_reason_return": False, "usage_term_days": 7}),
    Case("W5", "virtual goods: the day after the usage term is closed", "virtual_goods_issue",
         day(8), {"route": "not_accepted", "eligible": False},
         {"category": "virtual", "no_reason_return": False, "usage_term_days": 7}),
    Case("W5", "virtual goods with a 30-day term: W5's 15 days apply", "virtual_goods_issue",
         day(0), {"window_end": day(15)},
         {"category": "virtual", "no_reason_return": False, "usage_term_days": 30}),
    Case("W6", "durable 三包 on day 90: the entry is re-opened (W6 request limit)",
         "quality_issue", day(90), {"can_open_claim": True, "reason": "window_open"}, DURABLE),
    Case("W6", "durable 三包 on day 91: past W6, the seller's 三包 service only",
         "quality_issue", day(91),
         {"can_open_claim": False, "reason": "seller_service_only", "eligible": True}, DURABLE),
    Case("W7", "before success there is no window: negotiate", "quality_issue", day(400),
         {"route": "in_transaction", "eligible": True, "window_end": None, "days_left": None},
         {"status": "shipped", "completed_at": None}),
    Case("W8", "a second dispute on one order cannot be opened", "quality_issue", day(1),
         {"can_open_claim": False, "reason": "dispute_used", "eligible": True},
         facts={"dispute_used": True}),
    # --- postage -----------------------------------------------------------
    Case("F1", "a quality return: the seller pays the return leg", "quality_issue", day(1),
         {"payer:return": "seller", "payer:resend": None}),
    Case("F2", "changed mind after N1, inside W1: the buyer pays", "return_goods", day(10),
         {"route": "after_sales", "payer:return": "buyer"}),
    Case("F3", "size exchange: the buyer pays both ways", "size_issue", day(10),
         {"payer:return": "buyer", "payer:resend": "buyer"}),
    Case("F4", "defect confirmed by photos, replaced: the seller pays both ways",
         "quality_issue", day(1), {"payer:return": "seller", "payer:resend": "seller"},
         facts={"photos_confirm_quality": True, "wants_replacement": True}),
    Case("F5", "wrong item: the seller pays both ways", "wrong_item", day(1),
         {"payer:return": "seller", "payer:resend": "seller"}),
    Case("F6", "an agreement wins over F1 (checked first)", "quality_issue", day(1),
         {"payer:return": "buyer"}, facts={"agreed_payer": "buyer"}),
    Case("F7", "unclear fault: decided in a dispute, both give evidence", "size_issue", day(10),
         {"payer:return": "dispute", "evidence_has": "测量照片"}, facts={"unclear_fault": True}),
    Case("F8", "a postage-due return is refused", "quality_issue", day(1),
         {"postage_due_refused": True}, facts={"postage_due": True}),
    # --- quality problems --------------------------------------------------
    Case("Q1", "loose threads are no defect: the buyer pays the return", "quality_issue",
         day(10), {"kind": "change_of_mind", "payer:return": "buyer"},
         facts={"complaint": "loose_threads"}),
    Case("Q1", "loose threads past W1: refused as not a quality problem", "quality_issue",
         day(16), {"eligible": False, "reason": "not_quality"},
         facts={"complaint": "loose_threads"}),
    Case("Q2", "fit is no defect: it becomes a size exchange", "quality_issue", day(10),
         {"kind": "size", "payer:resend": "buyer"}, facts={"complaint": "fit"}),
    Case("Q3", "intimate apparel marked non-returnable: no return without a defect",
         "size_issue", day(2), {"route": "not_accepted", "reason": "not_returnable"},
         {"category": "intimate_apparel", "no_reason_return": False}),
    Case("Q4", "transit damage found after signing: accepted with photos (N6)",
         "damaged_in_transit", day(1), {"route": "after_sales", "eligible": True},
         facts={"has_photos": True}),
    Case("Q5", "no photos of a defect: not accepted", "quality_issue", day(1),
         {"route": "not_accepted", "reason": "photos_required", "evidence_rule": "E1"},
         facts={"has_photos": False}),
    Case("Q5", "returned without contacting the shop: not accepted", "quality_issue", day(1),
         {"reason": "returned_without_contact", "eligible": False},
         facts={"returned_without_contact": True}),
    # --- evidence ----------------------------------------------------------
    Case("E1", "a defect before success needs E1's comparison photo", "not_as_described",
         day(1), {"evidence_rule": "E1", "evidence_has": "实物对比图"},
         {"status": "delivered", "completed_at": None}),
    Case("E2", "a defect within 15 days of success needs the return waybill stub",
         "quality_issue", day(3), {"evidence_rule": "E2", "evidence_has": "退货物流底单"}),
    Case("E3", "counterfeit: any one of E3's proofs", "fake_goods", day(3),
         {"evidence_rule": "E3", "evidence_any_of": True}),
    Case("E4", "三包 past W1 needs photos of the item", "quality_issue", day(30),
         {"evidence_rule": "E4", "evidence_has": "实物图片"}, DURABLE),
    Case("E5", "virtual goods need the chat log of the promised term", "virtual_goods_issue",
         day(1), {"evidence_rule": "E5"},
         {"category": "virtual", "no_reason_return": False, "usage_term_days": 30}),
    Case("E6", "returned, signed, not refunded: the waybill number is the evidence",
         "refund_progress", SIGNED + timedelta(days=3),
         {"evidence_rule": "E6", "reason": "refund_due", "can_open_claim": False},
         facts={"return_signed_on": SIGNED}),
    # --- floors ------------------------------------------------------------
    Case("N1", "7 days from the day after 签收 (11-13): 11-20 is open", "return_goods",
         date(2026, 11, 20),
         {"route": "no_reason_return", "window_start": date(2026, 11, 14),
          "window_end": date(2026, 11, 20), "days_left": 0}),
    Case("N1", "the day after (11-21) N1 is closed: only W1's after-sales", "return_goods",
         date(2026, 11, 21), {"route": "after_sales", "window_end": day(15)}),
    Case("N1", "tags cut: not intact, no 七天无理由", "return_goods", date(2026, 11, 15),
         {"route": "not_accepted", "reason": "goods_not_intact"},
         facts={"goods_intact": False}),
    Case("N2", "intimate apparel the order does not mark: 七天无理由 applies", "size_issue",
         date(2026, 11, 15), {"route": "no_reason_return", "eligible": True},
         {"category": "intimate_apparel", "no_reason_return": True}),
    Case("N2", "custom-made goods are always excluded, whatever the order says",
         "return_goods", date(2026, 11, 15), {"reason": "not_returnable"},
         {"category": "custom_made", "no_reason_return": True}),
    Case("N2", "a general order marked non-returnable is excluded", "return_goods",
         date(2026, 11, 15), {"reason": "not_returnable"}, {"no_reason_return": False}),
    Case("N3", "N1 return of a 包邮 item: the buyer pays the return leg only", "return_goods",
         date(2026, 11, 15), {"payer:return": "buyer", "payer:outbound": "seller"}),
    Case("N3", "N1 return of a non-包邮 item: the buyer pays all postage", "return_goods",
         date(2026, 11, 15), {"payer:return": "buyer", "payer:outbound": "buyer"},
         {"free_shipping": False}),
    Case("N3", "N1 exchange: the buyer pays the resend too", "exchange_goods",
         date(2026, 11, 15), {"payer:resend": "buyer"}),
    Case("N4", "the seller refunds within 7 days of signing: day 7 still due",
         "refund_progress", SIGNED + timedelta(days=7),
         {"reason": "refund_due", "window_end": SIGNED + timedelta(days=7)},
         facts={"return_signed_on": SIGNED}),
    Case("N4", "day 8 after signing, with the waybill: overdue, 客服介入", "refund_progress",
         SIGNED + timedelta(days=8), {"reason": "refund_overdue", "can_open_claim": True},
         facts={"return_signed_on": SIGNED, "return_waybill": "YT9876543210"}),
    Case("N5", "a return agreed before the platform, no postage terms: the seller pays",
         "return_goods", day(10), {"payer:return": "seller"},
         facts={"agreed_before_platform": True}),
    Case("N6", "transit damage after signing is claimable (not refused by Q4)",
         "damaged_in_transit", day(2), {"eligible": True, "evidence_rule": "E2"}),
    Case("N7", "counterfeit with a penalty decision: no deadline on day 400", "fake_goods",
         day(400), {"route": "counterfeit", "eligible": True, "window_end": None,
                    "days_left": None, "reason": "no_deadline"},
         facts={"penalty_decision": True}),
    Case("N8", "past W2 the answer is statutory repair, never 'no rights'", "quality_issue",
         day(500), {"route": "statutory_repair", "eligible": True, "can_open_claim": False},
         DURABLE),
    Case("N9", "a postage-due return the seller agreed beforehand is not refused",
         "quality_issue", day(1), {"postage_due_refused": False},
         facts={"postage_due": True, "seller_agreed_postage_due": True}),
]  # fmt: skip


def _check(decision: Decision, expect: Dict[str, Any]) -> None:
    for key, wanted in expect.items():
        if key.startswith("payer:"):
            got: Any = decision.payer(key.split(":", 1)[1])
        elif key == "evidence_has":
            assert wanted in decision.evidence, decision.evidence
            continue
        else:
            got = getattr(decision, key)
        assert got == wanted, f"{key}: {got!r} != {wanted!r} ({decision})"


@pytest.fixture(scope="module")
def table() -> RuleTable:
    return load_table()


def _decide(table: RuleTable, case: Case) -> Decision:
    order = Order(**case.order)
    return decide(table, order, case.problem, BuyerFacts(**case.facts), case.today)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.pins}-{c.note[:40]}" for c in CASES])
def test_rule_case(table: RuleTable, case: Case) -> None:
    decision = _decide(table, case)
    assert case.pins in decision.rules, decision.rules
    _check(decision, case.expect)


def test_every_rule_id_has_a_case() -> None:
    assert sorted({case.pins for case in CASES}) == sorted(RULE_IDS)


# --- the table is the policy: editing it changes the answers ----------------


def _edited(table: RuleTable, **changes: Any) -> RuleTable:
    return table.model_copy(update=changes)


def test_postage_rows_are_checked_in_table_order(table: RuleTable) -> None:
    # Moving F1 ahead of F4 makes F1 win a photo-confirmed replacement.
    rows = list(table.postage)
    f1 = next(row for row in rows if row.id == "F1")
    rows.remove(f1)
    rows.insert(0, f1)
    facts = BuyerFacts(photos_confirm_quality=True, wants_replacement=True)
    before = decide(table, Order(), "quality_issue", facts, day(1))
    after = decide(_edited(table, postage=tuple(rows)), Order(), "quality_issue", facts, day(1))
    assert before.payer("resend") == "seller" and "F4" in before.rules
    assert after.payer("resend") is None and "F1" in after.rules


def test_editing_a_window_moves_the_deadline(table: RuleTable) -> None:
    windows = dict(table.windows)
    windows["W1"] = windows["W1"].model_copy(update={"days": 30})
    decision = decide(
        _edited(table, windows=windows), Order(), "quality_issue", BuyerFacts(), day(20)
    )
    assert decision.window_end == day(30) and decision.eligible


def test_editing_w6_changes_the_reopen_limit_and_text(table: RuleTable) -> None:
    windows = dict(table.windows)
    windows["W6"] = windows["W6"].model_copy(update={"days": 120})
    edited = _edited(table, windows=windows)
    decision = decide(edited, Order(**DURABLE), "quality_issue", BuyerFacts(), day(100))
    assert decision.can_open_claim and table.steps["reopen_entry"] in decision.next_steps
    assert "2个工作日" in table.steps["reopen_entry"]


def test_n2_and_q3_category_lists_come_from_the_table(table: RuleTable) -> None:
    floors = dict(table.floors)
    floors["N2"] = floors["N2"].model_copy(update={"always_excluded": ("custom_made",)})
    order = Order(category="fresh", no_reason_return=True)
    before = decide(table, order, "return_goods", BuyerFacts(), date(2026, 11, 15))
    after = decide(
        _edited(table, floors=floors), order, "return_goods", BuyerFacts(), date(2026, 11, 15)
    )
    assert before.reason == "not_returnable" and after.route == "no_reason_return"


# --- the rest of the decision -------------------------------------------------


def test_next_steps_say_where_to_click(table: RuleTable) -> None:
    decision = decide(table, Order(), "quality_issue", BuyerFacts(), day(1))
    assert decision.next_steps[0] == table.routes["after_sales"].steps[0]
    assert "已买到的宝贝" in decision.next_steps[0] and "申请售后" in decision.next_steps[0]
    refused = decide(table, Order(status="shipped", completed_at=None), "refund_request",
                     BuyerFacts(seller_refused=True), day(1))  # fmt: skip
    assert table.steps["ask_intervention"] in refused.next_steps


def test_statutory_repair_never_says_no_rights(table: RuleTable) -> None:
    decision = decide(table, Order(**NONDURABLE), "quality_issue", BuyerFacts(), day(365))
    assert decision.route != "not_accepted" and decision.reason == "statutory_repair"
    assert decision.route_name == table.routes["statutory_repair"].name


def test_unpaid_and_closed_orders(table: RuleTable) -> None:
    unpaid = decide(table, Order(status="unpaid", completed_at=None, delivered_at=None),
                    "refund_request", BuyerFacts(), day(0))  # fmt: skip
    closed = decide(table, Order(status="closed"), "return_goods", BuyerFacts(), day(1))
    assert (unpaid.reason, closed.reason) == ("not_paid", "order_closed")
    assert not unpaid.eligible and not closed.can_open_claim


def test_unshipped_refund_has_no_postage(table: RuleTable) -> None:
    order = Order(status="paid", completed_at=None, delivered_at=None)
    decision = decide(table, order, "refund_request", BuyerFacts(), day(0))
    assert decision.route == "in_transaction" and decision.postage == ()


def test_general_questions_follow_the_facts(table: RuleTable) -> None:
    broken = decide(table, Order(), "shipping_fee", BuyerFacts(quality_problem=True), day(1))
    mind = decide(table, Order(), "shipping_fee", BuyerFacts(), day(10))
    assert (broken.payer("return"), mind.payer("return")) == ("seller", "buyer")


def test_unknown_problem_is_an_error(table: RuleTable) -> None:
    with pytest.raises(UnknownProblemError):
        decide(table, Order(), "greet", BuyerFacts(), day(1))


def test_decision_json_round_trips_dates(table: RuleTable) -> None:
    data = decide(table, Order(), "quality_issue", BuyerFacts(), day(1)).to_json()
    assert data["window_end"] == "2026-12-01" and data["rules"][0] == "W1"
    assert data["postage"][0]["payer"] == "seller"


def test_china_date_of_late_evening_and_early_morning() -> None:
    assert china_date(datetime(2026, 11, 16, 15, 30, tzinfo=timezone.utc)) == date(2026, 11, 16)
    assert china_date(datetime(2026, 11, 16, 16, 0, tzinfo=timezone.utc)) == date(2026, 11, 17)


def test_engine_is_pure(table: RuleTable) -> None:
    order, facts = Order(), BuyerFacts()
    first = decide(table, order, "return_goods", facts, day(3))
    assert decide(table, replace(order), "return_goods", facts, day(3)) == first
