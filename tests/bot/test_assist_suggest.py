"""Tests of bot/assist/suggest.py: ranked, grounded replies from data."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Dict, Optional

import pytest

from bot.assist.suggest import (
    MAX_SUGGESTIONS,
    IntentScore,
    Parse,
    parse_result,
    suggest,
)
from bot.assist.templates import Templates, load_templates
from bot.orders import OrderView
from bot.policy.engine import BuyerFacts, Decision, decide
from bot.policy.table import RuleTable, load_table

TODAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def table() -> RuleTable:
    return load_table()


@pytest.fixture(scope="module")
def templates() -> Templates:
    return load_templates()


def _order(**changes: Any) -> OrderView:
    values: Dict[str, Any] = {
        "order_id": "2026111000001",
        "buyer_id": "buyer_001",
        "shop_id": "shop_01",
        "shop_name": "优衣小铺",
        "product": "纯棉圆领T恤 白色 L码",
        "category": "general",
        "no_reason_return": True,
        "free_shipping": True,
        "quantity": 1,
        "price": Decimal("79.00"),
        "status": "completed",
        "paid_at": datetime(2026, 11, 10, 12, tzinfo=timezone.utc),
        "shipped_at": datetime(2026, 11, 11, 2, tzinfo=timezone.utc),
        "delivered_at": datetime(2026, 11, 13, 15, 30, tzinfo=timezone.utc),
        "completed_at": datetime(2026, 11, 16, 15, 30, tzinfo=timezone.utc),
        "courier": "中通快递",
        "tracking_no": "ZT7301234567",
        "usage_term_days": None,
    }
    values.update(changes)
    return OrderView(**values)


def _parse(*intents: tuple[str, float], **entities: str) -> Parse:
    return Parse(tuple(IntentScore(n, c) for n, c in intents), entities)


def _decision(table: RuleTable, order: OrderView, intent: str) -> Decision:
    return decide(table, order, intent, BuyerFacts(), TODAY)


def test_parse_result_reads_the_ranking_and_entities() -> None:
    raw = {
        "intent": {"name": "size_issue", "confidence": 0.8},
        "intent_ranking": [
            {"name": "exchange_goods", "confidence": 0.15},
            {"name": "size_issue", "confidence": 0.8},
            {"name": "", "confidence": 0.5},
            "junk",
        ],
        "entities": [
            {"entity": "order_id", "value": "2026111000001"},
            {"entity": "order_id", "value": "999"},
            {"entity": "size", "value": 38},
            {"value": "no name"},
        ],
    }
    parse = parse_result(raw)
    assert [(i.name, i.confidence) for i in parse.intents] == [
        ("size_issue", 0.8),
        ("exchange_goods", 0.15),
    ]
    assert parse.entities == {"order_id": "2026111000001", "size": "38"}


def test_parse_result_falls_back_to_the_intent_and_clamps_confidence() -> None:
    parse = parse_result({"intent": {"name": "greet", "confidence": 7}})
    assert parse.intents == (IntentScore("greet", 1.0),)
    assert parse_result({}).intents == ()
    assert parse_result({"intent": {"name": "x", "confidence": True}}).intents[0].confidence == 0


def test_size_complaint_in_the_window_is_grounded_in_the_decision(
    table: RuleTable, templates: Templates
) -> None:
    order = _order()
    decision = _decision(table, order, "size_issue")
    found = suggest(_parse(("size_issue", 0.9)), order, {"size_issue": decision}, table, templates)
    assert found, "a size complaint on an order in its window gets a reply"
    best = found[0]
    assert best.intent == "size_issue" and best.confidence == 0.9
    assert "2026年12月1日" in best.text  # W1: completed 11-16 + 15 days
    assert decision.route_name in best.text
    assert all(leg.payer_name in best.text for leg in decision.postage)
    assert best.rule_ids[: len(decision.rules)] == decision.rules
    assert "W1" in best.rule_ids
    assert "{" not in best.text and "}" not in best.text


def test_closed_window_says_so_with_the_reason_and_steps(
    table: RuleTable, templates: Templates
) -> None:
    order = _order(completed_at=datetime(2026, 10, 10, 8, tzinfo=timezone.utc))
    decision = _decision(table, order, "return_goods")
    assert not decision.eligible
    found = suggest(
        _parse(("return_goods", 0.7)), order, {"return_goods": decision}, table, templates
    )
    assert decision.reason_text in found[0].text
    assert decision.next_steps[0] in found[0].text
    assert not any("前申请" in s.text for s in found)  # no eligible template leaks in


def test_without_an_order_the_reply_asks_for_it(table: RuleTable, templates: Templates) -> None:
    found = suggest(_parse(("quality_issue", 0.95)), None, {}, table, templates)
    assert len(found) == 1 and "订单号" in found[0].text
    assert found[0].rule_ids == ()


def test_second_reading_comes_before_more_of_the_first(
    table: RuleTable, templates: Templates
) -> None:
    order = _order()
    decisions = {name: _decision(table, order, name) for name in ("quality_issue", "return_goods")}
    found = suggest(
        _parse(("quality_issue", 0.6), ("return_goods", 0.3), ("greet", 0.05)),
        order,
        decisions,
        table,
        templates,
    )
    assert len(found) == MAX_SUGGESTIONS
    assert [s.intent for s in found[:2]] == ["quality_issue", "return_goods"]
    assert found[2].intent == "quality_issue"  # greet is below min_confidence
    assert len({s.text for s in found}) == len(found)
    assert [s.confidence for s in found] == [0.6, 0.3, 0.6]


def test_evidence_reply_lists_the_e_rule_items(table: RuleTable, templates: Templates) -> None:
    order = _order()
    decision = _decision(table, order, "quality_issue")
    assert decision.evidence
    found = suggest(
        _parse(("quality_issue", 0.9)), order, {"quality_issue": decision}, table, templates
    )
    evidence = next(s for s in found if decision.evidence[0] in s.text)
    assert decision.evidence_rule in evidence.rule_ids


def test_logistics_reply_uses_the_order_facts(table: RuleTable, templates: Templates) -> None:
    order = _order(status="shipped", delivered_at=None, completed_at=None)
    found = suggest(_parse(("logistics_query", 0.9)), order, {}, table, templates)
    assert "ZT7301234567" in found[0].text and "中通快递" in found[0].text
    assert table.statuses["shipped"] in found[0].text
    without_waybill = suggest(
        _parse(("logistics_query", 0.9)),
        _order(status="paid", courier=None, tracking_no=None),
        {},
        table,
        templates,
    )
    assert without_waybill and "None" not in without_waybill[0].text


def test_intents_without_templates_get_nothing(table: RuleTable, templates: Templates) -> None:
    assert suggest(_parse(("out_of_scope", 0.99)), None, {}, table, templates) == []
    assert suggest(_parse(), None, {}, table, templates) == []


def test_every_after_sales_intent_has_a_reply_for_an_order_in_its_window(
    table: RuleTable, templates: Templates
) -> None:
    order = _order()
    for intent in table.problems:
        decision: Optional[Decision] = _decision(table, order, intent)
        assert decision is not None
        found = suggest(_parse((intent, 0.8)), order, {intent: decision}, table, templates)
        assert found, intent
        assert all("{" not in s.text for s in found), intent
