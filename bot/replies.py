"""Facts written the way answers state them: the placeholders of replies.

The dialogue (``domain.yml`` responses) and the agent assistant
(``bot/assist/templates.yml``) fill their texts with the same values, written
with the rule table's ``formats``: dates as ``2026年12月3日``, money as
``¥129.00``, lists and postage legs joined by the table's separators.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Dict, Optional

from bot.claims import ClaimView
from bot.orders import OrderView
from bot.policy.engine import Decision, china_date
from bot.policy.table import Formats, RuleTable

_CENT = Decimal("0.01")


def format_date(formats: Formats, value: date) -> str:
    """Write a date in the table's date format (no zero padding)."""
    return formats.date.format(year=value.year, month=value.month, day=value.day)


def format_money(formats: Formats, value: Decimal) -> str:
    """Write an amount in yuan with two decimals, e.g. ``¥129.00``."""
    return formats.money.format(amount=value.quantize(_CENT, rounding=ROUND_HALF_UP))


def _date_or_none(formats: Formats, value: Optional[date]) -> Optional[str]:
    return format_date(formats, value) if value is not None else None


def order_values(table: RuleTable, order: OrderView) -> Dict[str, Any]:
    """Return the placeholders that describe one order.

    Keys: ``order_id``, ``product``, ``shop_name``, ``status_name``,
    ``courier``, ``tracking_no``, ``price``, ``paid_on``, ``shipped_on``, ``delivered_on``,
    ``completed_on`` (None where the order has no such fact).
    """
    formats = table.formats

    def day(moment: Any) -> Optional[str]:
        return format_date(formats, china_date(moment)) if moment is not None else None

    return {
        "order_id": order.order_id,
        "product": order.product,
        "shop_name": order.shop_name,
        "status_name": table.statuses.get(order.status),
        "courier": order.courier,
        "tracking_no": order.tracking_no,
        "price": format_money(formats, order.price),
        "paid_on": day(order.paid_at),
        "shipped_on": day(order.shipped_at),
        "delivered_on": day(order.delivered_at),
        "completed_on": day(order.completed_at),
    }


def decision_values(table: RuleTable, decision: Decision) -> Dict[str, Any]:
    """Return the placeholders that state a decision.

    Keys: ``route_name``, ``reason_text``, ``window_end``, ``days_left``,
    ``postage``, ``return_payer``, ``evidence``, ``steps``, ``first_step``
    (None where the decision has no such fact).
    """
    formats = table.formats
    postage = formats.list_separator.join(
        formats.postage_leg.format(leg=leg.leg_name, payer=leg.payer_name)
        for leg in decision.postage
    )
    return_payer = next((leg.payer_name for leg in decision.postage if leg.leg == "return"), None)
    return {
        "route_name": decision.route_name,
        "reason_text": decision.reason_text,
        "window_end": _date_or_none(formats, decision.window_end),
        "days_left": decision.days_left if decision.window_end is not None else None,
        "postage": postage or None,
        "return_payer": return_payer,
        "evidence": formats.list_separator.join(decision.evidence) or None,
        "steps": formats.step_separator.join(decision.next_steps) or None,
        "first_step": decision.next_steps[0] if decision.next_steps else None,
    }


def claim_values(table: RuleTable, claim: ClaimView) -> Dict[str, Any]:
    """Return the placeholders that state a claim.

    Keys: ``claim_no``, ``claim_status``, ``claim_since``, ``claim_evidence``,
    ``next_deadline``, ``next_party`` and ``return_waybill`` (None where the
    claim has no such fact).
    """
    formats = table.formats
    deadline = claim.deadline
    return {
        "claim_no": claim.number,
        "claim_status": table.claim_statuses.get(claim.status, claim.status),
        "claim_since": format_date(formats, claim.since),
        "claim_evidence": formats.list_separator.join(claim.evidence) or None,
        "next_deadline": format_date(formats, deadline.due) if deadline else None,
        "next_party": table.parties.get(deadline.party) if deadline else None,
        "return_waybill": claim.return_tracking_no,
    }


__all__ = [
    "claim_values",
    "decision_values",
    "format_date",
    "format_money",
    "order_values",
]
