"""Tests of bot/db/models.py: types and constraints on every backend."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError

from bot.db.models import Buyer, Claim, Order, Shop
from bot.db.session import session_scope
from bot.settings import SHOP_TZ

CHINA = timezone(timedelta(hours=8))


def _seed(url: str) -> None:
    with session_scope(url) as session:
        session.add_all([Shop(id="s", name="店"), Buyer(id="b", nick="买家")])


def _order(order_id: str, **values: object) -> Order:
    fields: dict[str, object] = {
        "order_id": order_id,
        "buyer_id": "b",
        "shop_id": "s",
        "product": "商品",
        "category": "general",
        "no_reason_return": True,
        "free_shipping": True,
        "quantity": 1,
        "price": Decimal("1.00"),
        "status": "paid",
        "paid_at": datetime(2026, 11, 1, 10, 0, tzinfo=CHINA),
    }
    fields.update(values)
    return Order(**fields)


@pytest.mark.parametrize(
    "price", ["0.00", "0.01", "0.10", "19.99", "2999.00", "123456789.95", "9999999999.99"]
)
def test_decimal_price_round_trips_exactly(migrated_url: str, price: str) -> None:
    _seed(migrated_url)
    with session_scope(migrated_url) as session:
        session.add(_order("1", price=Decimal(price)))
    with session_scope(migrated_url) as session:
        stored = session.scalar(select(Order.price).where(Order.order_id == "1"))
    assert isinstance(stored, Decimal)
    assert stored == Decimal(price)
    assert str(stored) == price


def test_late_evening_china_time_round_trips_as_the_same_instant(migrated_url: str) -> None:
    _seed(migrated_url)
    late = datetime(2026, 11, 13, 23, 30, tzinfo=SHOP_TZ)
    with session_scope(migrated_url) as session:
        session.add(_order("1", paid_at=late, delivered_at=late.astimezone(CHINA)))
    with session_scope(migrated_url) as session:
        order = session.get(Order, "1")
        assert order is not None
        paid, delivered = order.paid_at, order.delivered_at
    assert paid is not None and delivered is not None
    assert paid == late and delivered == late
    assert paid.utcoffset() == timedelta(0)
    assert paid.astimezone(SHOP_TZ).date().isoformat() == "2026-11-13"
    assert paid.astimezone(SHOP_TZ).hour == 23


def test_datetimes_compare_in_queries_by_instant(migrated_url: str) -> None:
    _seed(migrated_url)
    with session_scope(migrated_url) as session:
        session.add(_order("1", paid_at=datetime(2026, 11, 13, 23, 30, tzinfo=CHINA)))
    boundary = datetime(2026, 11, 13, 15, 30, tzinfo=timezone.utc)  # the same instant
    with session_scope(migrated_url) as session:
        assert session.scalar(select(Order.order_id).where(Order.paid_at == boundary)) == "1"
        earlier = boundary - timedelta(seconds=1)
        assert session.scalar(select(Order.order_id).where(Order.paid_at > earlier)) == "1"


def test_naive_datetime_is_refused(migrated_url: str) -> None:
    _seed(migrated_url)
    with pytest.raises(StatementError), session_scope(migrated_url) as session:
        session.add(_order("1", paid_at=datetime(2026, 11, 13, 23, 30)))
        session.flush()


def test_second_claim_on_an_order_is_rejected(migrated_url: str) -> None:
    _seed(migrated_url)
    opened = datetime(2026, 11, 14, 10, 0, tzinfo=CHINA)
    with session_scope(migrated_url) as session:
        session.add(_order("1"))
        session.flush()
        session.add(
            Claim(
                number="AS1",
                order_id="1",
                type="refund_request",
                status="requested",
                opened_at=opened,
            )
        )
    # A different number: the unique order_id alone refuses the second claim.
    with pytest.raises(IntegrityError), session_scope(migrated_url) as session:
        session.add(
            Claim(
                number="AS1-2",
                order_id="1",
                type="return_goods",
                status="requested",
                opened_at=opened,
            )
        )
    with session_scope(migrated_url) as session:
        claims = session.scalars(select(Claim)).all()
        assert [(c.order_id, c.type) for c in claims] == [("1", "refund_request")]


@pytest.mark.parametrize(
    "values",
    [{"category": "weapons"}, {"status": "lost"}, {"quantity": 0}, {"price": Decimal("-1")}],
)
def test_check_constraints_reject_bad_values(migrated_url: str, values: dict[str, object]) -> None:
    _seed(migrated_url)
    with pytest.raises(IntegrityError), session_scope(migrated_url) as session:
        session.add(_order("1", **values))
