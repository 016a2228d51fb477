"""The return flow of ``shared/spec/policy.md`` as a state machine (pure).

申请售后 (``requested``) → 卖家同意 (``seller_agreed``) → 系统发送退货地址
(``return_address_sent``) → 买家退货 (``buyer_shipped``) → 卖家确认收货
(``seller_signed``) → 卖家退款 (``refunded``) → 交易关闭 (``closed``); plus the
side exits of ``shared/spec/orders.md``: ``rejected``, ``escalated`` (客服介入)
and ``withdrawn``. :data:`TRANSITIONS` lists every allowed step and
:data:`ACTORS` who may take it; the time limits of the shop
(:class:`bot.settings.RefundLimits`) give each waiting status its deadline
and what happens when it passes.

A few steps beyond the straight line are listed because the policy's time
limits take them: an unanswered request is agreed automatically, a 仅退款
(``refund_request``) goes from agreed to refunded without a return, a return
not shipped in time closes the claim, a return not confirmed in time is
refunded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import FrozenSet, Mapping, Optional

from bot.settings import RefundLimits

#: Prefix of claim numbers (售后单号).
CLAIM_NUMBER_PREFIX = "AS"

#: Allowed steps: status → the statuses it may move to.
TRANSITIONS: Mapping[str, FrozenSet[str]] = {
    "requested": frozenset({"seller_agreed", "rejected", "escalated", "withdrawn"}),
    "seller_agreed": frozenset({"return_address_sent", "refunded", "escalated", "withdrawn"}),
    "return_address_sent": frozenset({"buyer_shipped", "closed", "withdrawn"}),
    "buyer_shipped": frozenset({"seller_signed", "refunded", "escalated"}),
    "seller_signed": frozenset({"refunded", "escalated"}),
    "refunded": frozenset({"closed"}),
    "rejected": frozenset({"escalated", "withdrawn", "closed"}),
    "escalated": frozenset({"refunded", "closed"}),
    "withdrawn": frozenset(),
    "closed": frozenset(),
}

#: Who may move a claim into each status.
ACTORS: Mapping[str, FrozenSet[str]] = {
    "seller_agreed": frozenset({"seller", "system"}),
    "return_address_sent": frozenset({"system", "seller"}),
    "buyer_shipped": frozenset({"buyer"}),
    "seller_signed": frozenset({"seller"}),
    "refunded": frozenset({"seller", "system", "platform"}),
    "closed": frozenset({"system", "platform"}),
    "rejected": frozenset({"seller"}),
    "escalated": frozenset({"buyer", "seller"}),
    "withdrawn": frozenset({"buyer"}),
}

#: Claim types that ask for money back without a return (仅退款).
REFUND_ONLY_TYPES = frozenset({"refund_request"})


class TransitionError(ValueError):
    """A step the return flow does not allow (or not to this actor)."""


@dataclass(frozen=True)
class Deadline:
    """The next time limit of a claim.

    Attributes:
        due: The last day (China date) to act.
        party: Who must act: ``seller`` or ``buyer``.
        then: The status the claim moves to (or may be moved to) after it.
    """

    due: date
    party: str
    then: str


def claim_number(order_id: str) -> str:
    """Return the claim number of the (only) claim of ``order_id``: ``AS`` + the id."""
    return f"{CLAIM_NUMBER_PREFIX}{order_id}"


def check_transition(current: str, target: str, actor: str) -> None:
    """Check that ``actor`` may move a claim from ``current`` to ``target``.

    Raises:
        TransitionError: The flow has no such step, or not for this actor.
    """
    if target not in TRANSITIONS.get(current, frozenset()):
        raise TransitionError(f"a claim cannot go from {current} to {target}")
    if actor not in ACTORS.get(target, frozenset()):
        raise TransitionError(f"{actor} cannot move a claim to {target}")


def next_deadline(
    status: str,
    since: date,
    limits: RefundLimits,
    *,
    refund_only: bool,
    order_shipped: bool,
    refund_days: int,
) -> Optional[Deadline]:
    """Return the deadline of a claim that reached ``status`` on ``since``.

    Args:
        status: The claim's status.
        since: The China date it reached that status.
        limits: The shop's refund-step time limits.
        refund_only: The claim is a 仅退款 (no return).
        order_shipped: The order had been shipped when the claim opened.
        refund_days: Days the seller has to refund a signed return (N4).

    Returns:
        The deadline, or None when nobody is waited for.
    """
    if status == "requested":
        days = (
            limits.seller_answer_unshipped_days
            if refund_only and not order_shipped
            else limits.seller_answer_days
        )
        return Deadline(since + timedelta(days=days), "seller", "seller_agreed")
    if status in ("seller_agreed", "return_address_sent") and not refund_only:
        return Deadline(since + timedelta(days=limits.buyer_ship_days), "buyer", "closed")
    if status == "buyer_shipped":
        return Deadline(since + timedelta(days=limits.seller_confirm_days), "seller", "refunded")
    if status == "seller_signed":
        return Deadline(since + timedelta(days=refund_days), "seller", "escalated")
    return None


__all__ = [
    "ACTORS",
    "CLAIM_NUMBER_PREFIX",
    "REFUND_ONLY_TYPES",
    "TRANSITIONS",
    "Deadline",
    "TransitionError",
    "check_transition",
    "claim_number",
    "next_deadline",
]
