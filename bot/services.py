"""Use cases the entrypoints (actions, CLI, agent assistant) call.

Each function opens its own unit of work on the database named by the
settings and returns plain values; callers never see a session or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from bot.db.session import session_scope
from bot.orders import OrderView, find_order, normalize_order_id, recent_orders
from bot.settings import Settings

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
    """

    outcome: str
    order: Optional[OrderView] = None
    order_id: Optional[str] = None
    candidates: List[OrderView] = field(default_factory=list)


def lookup_order(settings: Settings, buyer_id: str, raw_order_id: Optional[str]) -> OrderLookup:
    """Find the order a buyer means, only among the buyer's own orders.

    Args:
        settings: Process settings (the database URL).
        buyer_id: The verified buyer.
        raw_order_id: The id as the buyer wrote it, or None.

    Returns:
        The lookup outcome. A buyer with exactly one order gets it without
        naming it.
    """
    with session_scope(settings.db_url) as session:
        if raw_order_id is not None and raw_order_id.strip():
            order_id = normalize_order_id(raw_order_id)
            order = find_order(session, buyer_id, order_id) if order_id else None
            if order is None:
                return OrderLookup("not_found", order_id=order_id or raw_order_id.strip()[:40])
            return OrderLookup("found", order=order, order_id=order.order_id)
        candidates = recent_orders(session, buyer_id, limit=RECENT_ORDER_CHOICES)
    if not candidates:
        return OrderLookup("no_orders")
    if len(candidates) == 1:
        return OrderLookup("found", order=candidates[0], order_id=candidates[0].order_id)
    return OrderLookup("choose", candidates=candidates)
