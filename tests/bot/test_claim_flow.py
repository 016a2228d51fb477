"""Tests of bot/claim_flow.py: the return flow's steps, actors and deadlines."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.claim_flow import (
    TRANSITIONS,
    TransitionError,
    check_transition,
    claim_number,
    next_deadline,
)
from bot.db.models import CLAIM_STATUSES
from bot.settings import RefundLimits

DAY = date(2026, 11, 20)
LIMITS = RefundLimits()

#: The straight line of policy.md, each step with the actor who takes it.
RETURN_FLOW = [
    ("requested", "seller_agreed", "seller"),
    ("seller_agreed", "return_address_sent", "system"),
    ("return_address_sent", "buyer_shipped", "buyer"),
    ("buyer_shipped", "seller_signed", "seller"),
    ("seller_signed", "refunded", "seller"),
    ("refunded", "closed", "system"),
]


def test_the_machine_knows_exactly_the_claim_statuses() -> None:
    assert set(TRANSITIONS) == set(CLAIM_STATUSES)
    assert all(target in CLAIM_STATUSES for targets in TRANSITIONS.values() for target in targets)


@pytest.mark.parametrize(("current", "target", "actor"), RETURN_FLOW)
def test_each_step_of_the_return_flow_is_allowed(current: str, target: str, actor: str) -> None:
    check_transition(current, target, actor)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("requested", "buyer_shipped"),  # skips the seller's consent
        ("requested", "refunded"),  # no refund before consent
        ("seller_signed", "buyer_shipped"),  # backwards
        ("closed", "requested"),  # closed is final
        ("withdrawn", "requested"),  # withdrawing uses the one chance (W8)
        ("refunded", "escalated"),
    ],
)
def test_steps_outside_the_flow_are_refused(current: str, target: str) -> None:
    with pytest.raises(TransitionError, match=f"from {current} to {target}"):
        check_transition(current, target, "platform")


def test_only_the_right_party_takes_a_step() -> None:
    with pytest.raises(TransitionError, match="seller cannot move a claim to buyer_shipped"):
        check_transition("return_address_sent", "buyer_shipped", "seller")
    with pytest.raises(TransitionError, match="buyer cannot"):
        check_transition("buyer_shipped", "seller_signed", "buyer")


def _deadline(status: str, refund_only: bool = False, shipped: bool = True) -> tuple[int, str, str]:
    found = next_deadline(
        status, DAY, LIMITS, refund_only=refund_only, order_shipped=shipped, refund_days=7
    )
    assert found is not None
    return (found.due - DAY).days, found.party, found.then


def test_deadlines_follow_the_refund_limits() -> None:
    # 仅退款 of an unshipped order: the seller answers in 2 days
    assert _deadline("requested", refund_only=True, shipped=False) == (2, "seller", "seller_agreed")
    # any other request: 5 days
    assert _deadline("requested") == (5, "seller", "seller_agreed")
    # the buyer ships within 7 days of the address, or the claim closes
    assert _deadline("return_address_sent") == (7, "buyer", "closed")
    # the seller confirms a shipped return within 10 days, or it is refunded
    assert _deadline("buyer_shipped") == (10, "seller", "refunded")
    # N4: the seller refunds within 7 days of signing for the return
    assert _deadline("seller_signed") == (7, "seller", "escalated")


def test_a_shop_setting_moves_the_deadline() -> None:
    limits = RefundLimits(buyer_ship_days=3)
    found = next_deadline(
        "return_address_sent", DAY, limits, refund_only=False, order_shipped=True, refund_days=7
    )
    assert found is not None and found.due == DAY + timedelta(days=3)


def test_final_statuses_wait_for_nobody() -> None:
    for status in ("refunded", "closed", "withdrawn", "rejected"):
        assert (
            next_deadline(status, DAY, LIMITS, refund_only=False, order_shipped=True, refund_days=7)
            is None
        )


def test_claim_number_is_readable_and_one_per_order() -> None:
    assert claim_number("2026111000001") == "AS2026111000001"
