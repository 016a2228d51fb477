"""Tests of bot/orders.py: order look-ups scoped by the buyer."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, Iterator, List, Optional

import pytest
from sqlalchemy import event

from bot.db.session import get_engine, session_scope
from bot.orders import OrderView, find_order, normalize_order_id, recent_orders
from bot.settings import SHOP_TZ

OWN = "2026111000001"  # buyer_001's first demo order
OTHERS = "2026110500101"  # buyer_002's order
MISSING = "2026010100000"


@pytest.fixture()
def statements(demo_url: str) -> Iterator[List[str]]:
    """The SQL statements run on the demo database during the test."""
    seen: List[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = get_engine(demo_url)
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _find(url: str, buyer: str, order_id: str) -> Optional[OrderView]:
    with session_scope(url) as session:
        return find_order(session, buyer, order_id)


def test_find_own_order(demo_url: str) -> None:
    order = _find(demo_url, "buyer_001", OWN)
    assert order is not None
    assert (order.order_id, order.buyer_id, order.shop_id) == (OWN, "buyer_001", "shop_01")
    assert order.shop_name == "优衣小铺"
    assert order.category == "general" and order.status == "completed"
    assert order.price == Decimal("79.00") and isinstance(order.price, Decimal)
    assert order.no_reason_return is True and order.free_shipping is True
    assert order.delivered_at is not None
    assert order.delivered_at.astimezone(SHOP_TZ).isoformat() == "2026-11-13T23:30:00+08:00"
    assert order.courier == "中通快递" and order.tracking_no
    with pytest.raises(dataclasses.FrozenInstanceError):
        order.status = "closed"  # type: ignore[misc]


def test_another_buyers_order_looks_exactly_like_a_missing_one(demo_url: str) -> None:
    assert _find(demo_url, "buyer_002", OTHERS) is not None  # it exists
    others = _find(demo_url, "buyer_001", OTHERS)
    missing = _find(demo_url, "buyer_001", MISSING)
    assert others is None and missing is None
    assert _find(demo_url, "nobody", OWN) is None
    assert _find(demo_url, "", OWN) is None


@pytest.mark.parametrize(
    "order_id",
    [
        "",
        " ",
        "abc",
        "2026 1110 00001",
        "２０２６１１１０００００１",
        "1" * 33,
        "2026111000001; DROP TABLE orders",
        "2026111000001' OR '1'='1",
        "-1",
        "1.5",
        "٣",  # an Arabic-Indic digit: str.isdigit() accepts it, we do not
    ],
)
def test_malformed_ids_return_none_without_querying(
    demo_url: str, statements: List[str], order_id: str
) -> None:
    assert _find(demo_url, "buyer_001", order_id) is None
    assert statements == []


def test_recent_orders_newest_paid_first_and_only_the_buyers(demo_url: str) -> None:
    with session_scope(demo_url) as session:
        everything = recent_orders(session, "buyer_001", limit=100)
        five = recent_orders(session, "buyer_001")
        none = recent_orders(session, "buyer_001", limit=0)
        stranger = recent_orders(session, "nobody")
    assert len(everything) == 14 and all(o.buyer_id == "buyer_001" for o in everything)
    assert five == everything[:5]
    assert none == [] and stranger == []
    paid = [o.paid_at for o in everything if o.paid_at is not None]
    assert paid == sorted(paid, reverse=True)
    assert everything[0].order_id == "2026112300010"  # paid 2026-11-23
    assert everything[-1].status == "unpaid" and everything[-1].paid_at is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026111000001", "2026111000001"),
        ("  2026111000001\n", "2026111000001"),
        ("2026 1110 00001", "2026111000001"),
        ("２０２６１１１０００００１", "2026111000001"),
        ("２０２６　１１１０", "20261110"),  # ideographic space
        ("1" * 32, "1" * 32),
        ("1" * 33, None),
        ("", None),
        ("   ", None),
        ("订单2026111000001", None),
        ("2026-1110-00001", None),
        ("12;DROP TABLE orders", None),
        ("٣٤", None),
    ],
)
def test_normalize_order_id(raw: str, expected: Optional[str]) -> None:
    assert normalize_order_id(raw) == expected
