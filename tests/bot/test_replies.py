"""Tests of bot/replies.py: facts written the way answers state them."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from bot.orders import OrderView
from bot.policy.engine import BuyerFacts, decide
from bot.policy.table import load_table
from bot.replies import decision_values, format_date, format_money, order_values

TABLE = load_table()


def _order() -> OrderView:
    return OrderView(
        order_id="2026111000001",
        buyer_id="b",
        shop_id="s",
        shop_name="小铺",
        product="T恤",
        category="general",
        no_reason_return=True,
        free_shipping=True,
        quantity=1,
        price=Decimal("129"),
        status="completed",
        paid_at=datetime(2026, 11, 10, 2, tzinfo=timezone.utc),
        shipped_at=None,
        delivered_at=datetime(2026, 11, 15, 15, 30, tzinfo=timezone.utc),  # 23:30 in China
        completed_at=datetime(2026, 11, 16, 2, tzinfo=timezone.utc),
        courier=None,
        tracking_no=None,
        usage_term_days=None,
    )


def test_dates_have_no_zero_padding() -> None:
    assert format_date(TABLE.formats, date(2026, 12, 3)) == "2026年12月3日"


def test_money_has_two_decimals() -> None:
    assert format_money(TABLE.formats, Decimal("129")) == "¥129.00"
    assert format_money(TABLE.formats, Decimal("0.005")) == "¥0.01"


def test_order_dates_are_china_dates_and_missing_facts_are_none() -> None:
    values = order_values(TABLE, _order())
    assert values["delivered_on"] == "2026年11月15日"  # 23:30 China time stays that day
    assert values["shipped_on"] is None and values["courier"] is None
    assert values["price"] == "¥129.00" and values["status_name"] == TABLE.statuses["completed"]


def test_decision_values_name_each_postage_leg() -> None:
    decision = decide(TABLE, _order(), "wrong_item", BuyerFacts(), date(2026, 11, 24))
    values = decision_values(TABLE, decision)
    assert values["window_end"] == "2026年12月1日" and values["days_left"] == 7
    assert values["postage"].count(TABLE.payers["seller"]) == len(decision.postage)  # F5
    assert values["return_payer"] == TABLE.payers["seller"]
