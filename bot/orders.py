"""Read-side order services for the dialogue.

Every lookup is scoped by the caller's identity: an order of another buyer
is reported exactly like an order that does not exist (None), so the answers
never reveal whether somebody else's order id is real.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import List, Optional, Tuple

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bot.db.models import ORDER_ID_MAX_LENGTH, PARTY_ID_MAX_LENGTH, Claim, Order, Shop

_ORDER_ID_RE = re.compile(rf"[0-9]{{1,{ORDER_ID_MAX_LENGTH}}}")

#: Full-width digits (０-９) and the ideographic space, mapped to ASCII.
#: A courier waybill: up to 4 letters, then 8 to 20 digits, standing alone.
_WAYBILL_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{0,4}[0-9]{8,20}(?![0-9])")
_FULL_WIDTH = str.maketrans({**{0xFF10 + digit: str(digit) for digit in range(10)}, 0x3000: " "})

_SPACES_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class OrderView:
    """One order as the dialogue sees it (a plain, immutable value).

    Attributes:
        order_id: The order number (digits).
        buyer_id: The buyer who placed it.
        shop_id: The shop that sold it.
        shop_name: The shop's display name.
        product: The item.
        category: One of :data:`bot.db.models.CATEGORIES`.
        no_reason_return: Whether 七天无理由 applies (policy N1/N2).
        free_shipping: Whether the item shipped free (包邮, policy N3).
        quantity: Number of items.
        price: Price in yuan, exact.
        status: One of :data:`bot.db.models.ORDER_STATUSES`.
        paid_at: When it was paid (aware, UTC), if it was.
        shipped_at: When it was shipped, if it was.
        delivered_at: When it was signed for (签收), if it was.
        completed_at: When the transaction succeeded (交易成功), if it did.
        courier: The courier company, if shipped.
        tracking_no: The waybill number, if shipped.
        usage_term_days: The promised usage term of virtual goods, if any.
    """

    order_id: str
    buyer_id: str
    shop_id: str
    shop_name: str
    product: str
    category: str
    no_reason_return: bool
    free_shipping: bool
    quantity: int
    price: Decimal
    status: str
    paid_at: Optional[datetime]
    shipped_at: Optional[datetime]
    delivered_at: Optional[datetime]
    completed_at: Optional[datetime]
    courier: Optional[str]
    tracking_no: Optional[str]
    usage_term_days: Optional[int]


def normalize_order_id(raw: str) -> Optional[str]:
    """Turn an order number as a buyer typed it into the stored form.

    Full-width digits become ASCII digits and spaces (full-width ones too)
    are dropped; anything else that is not a digit makes it not an order id.

    Args:
        raw: The text the buyer gave, e.g. ``" ２０２６ 1110 00001 "``.

    Returns:
        The order id (1 to 32 ASCII digits), or None when the text is not an
        order number.
    """
    if not isinstance(raw, str):
        return None
    text = _SPACES_RE.sub("", raw.translate(_FULL_WIDTH))
    if _ORDER_ID_RE.fullmatch(text):
        return text
    return None


def find_waybill(text: str) -> Optional[str]:
    """Return the first courier waybill number in ``text`` (letters then 8–20 digits).

    Full-width characters count as their ASCII forms; letters come back in
    upper case, e.g. ``yt9876543210`` → ``YT9876543210``.
    """
    if not isinstance(text, str):
        return None
    found = _WAYBILL_RE.search(text.translate(_FULL_WIDTH))
    return found.group(0).upper() if found else None


def is_order_id(value: str) -> bool:
    """Return True when ``value`` is a well-formed order id (1 to 32 ASCII digits)."""
    return isinstance(value, str) and _ORDER_ID_RE.fullmatch(value) is not None


def _valid_buyer(buyer_id: str) -> bool:
    return isinstance(buyer_id, str) and 0 < len(buyer_id) <= PARTY_ID_MAX_LENGTH


def _view_query() -> Select[Order, str]:
    return select(Order, Shop.name).join(Shop, Shop.id == Order.shop_id)


def _to_view(order: Order, shop_name: str) -> OrderView:
    return OrderView(
        order_id=order.order_id,
        buyer_id=order.buyer_id,
        shop_id=order.shop_id,
        shop_name=shop_name,
        product=order.product,
        category=order.category,
        no_reason_return=order.no_reason_return,
        free_shipping=order.free_shipping,
        quantity=order.quantity,
        price=order.price,
        status=order.status,
        paid_at=order.paid_at,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
        completed_at=order.completed_at,
        courier=order.courier,
        tracking_no=order.tracking_no,
        usage_term_days=order.usage_term_days,
    )


def find_order_and_claim(
    session: Session, buyer_id: str, order_id: str
) -> Tuple[Optional[OrderView], Optional[Claim]]:
    """Return the buyer's order ``order_id`` and its claim, in one query.

    Args:
        session: An open session.
        buyer_id: The verified buyer asking.
        order_id: The order id, already normalised (see
            :func:`normalize_order_id`).

    Returns:
        The order (None when it does not exist, belongs to another buyer, or
        ``order_id`` is not a well-formed id: then no query is made) and its
        claim (None when it has none).
    """
    if not _valid_buyer(buyer_id):
        return None, None
    return _order_and_claim(session, order_id, Order.buyer_id == buyer_id)


def find_shop_order_and_claim(
    session: Session, shop_id: str, order_id: str
) -> Tuple[Optional[OrderView], Optional[Claim]]:
    """Return the order ``order_id`` of the shop ``shop_id`` and its claim (a seller asks).

    Like :func:`find_order_and_claim`, scoped by the shop instead of the buyer:
    another shop's order and a missing one give the same None.
    """
    if not _valid_buyer(shop_id):
        return None, None
    return _order_and_claim(session, order_id, Order.shop_id == shop_id)


def _order_and_claim(
    session: Session, order_id: str, owner: ColumnElement[bool]
) -> Tuple[Optional[OrderView], Optional[Claim]]:
    if not is_order_id(order_id):
        return None, None
    statement = (
        select(Order, Shop.name, Claim)
        .join(Shop, Shop.id == Order.shop_id)
        .outerjoin(Claim, Claim.order_id == Order.order_id)
        .where(Order.order_id == order_id, owner)
    )
    row = session.execute(statement).first()
    if row is None:
        return None, None
    order, shop_name, claim = row
    if claim is not None:
        # The claim's order is the row just read: no second query when a
        # claim view reads it (the session only holds it weakly).
        set_committed_value(claim, "order", order)
    return _to_view(order, shop_name), claim


def find_order(session: Session, buyer_id: str, order_id: str) -> Optional[OrderView]:
    """Return the buyer's order ``order_id`` (see :func:`find_order_and_claim`).

    Returns:
        The order, or None when it does not exist, belongs to another buyer,
        or ``order_id`` is not a well-formed id (then no query is made).
    """
    return find_order_and_claim(session, buyer_id, order_id)[0]


def recent_orders(session: Session, buyer_id: str, limit: int = 5) -> List[OrderView]:
    """Return the buyer's orders, the most recently paid first.

    Unpaid orders come last; ties are broken by the newest order id.

    Args:
        session: An open session.
        buyer_id: The verified buyer asking.
        limit: At most this many orders (0 or less: none).

    Returns:
        The buyer's orders, newest paid first.
    """
    if limit <= 0 or not _valid_buyer(buyer_id):
        return []
    statement = (
        _view_query()
        .where(Order.buyer_id == buyer_id)
        .order_by(Order.paid_at.is_(None), Order.paid_at.desc(), Order.order_id.desc())
        .limit(limit)
    )
    return [_to_view(row[0], row[1]) for row in session.execute(statement)]


__all__ = [
    "OrderView",
    "find_order",
    "find_order_and_claim",
    "find_shop_order_and_claim",
    "find_waybill",
    "is_order_id",
    "normalize_order_id",
    "recent_orders",
]
