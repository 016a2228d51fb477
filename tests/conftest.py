"""Shared fixtures (a small order set in the import format) and plugins.

The hooks of :mod:`tests.hypothesis_cases` count the cases of every property
test and print them at the end of the run, in both Python environments.
"""

from __future__ import annotations

from typing import Any, Dict

import pytest

from tests.hypothesis_cases import (  # noqa: F401 - pytest hooks
    pytest_configure,
    pytest_runtest_call,
    pytest_terminal_summary,
)


def small_order_set() -> Dict[str, Any]:
    """Two buyers; buyer_a has three orders, buyer_b one."""

    def order(order_id: str, buyer: str, product: str, status: str, paid: str) -> Dict[str, Any]:
        row: Dict[str, Any] = {
            "order_id": order_id,
            "buyer_id": buyer,
            "shop_id": "shop_t",
            "product": product,
            "category": "general",
            "quantity": 1,
            "price": "129.00",
            "status": status,
            "paid_at": f"{paid}T10:00:00+08:00",
        }
        if status in ("shipped", "delivered", "completed"):
            row.update(
                shipped_at=f"{paid}T18:00:00+08:00", courier="顺丰", tracking_no="SF1000000001"
            )
        if status == "completed":
            row["completed_at"] = f"{paid}T23:30:00+08:00"
        return row

    return {
        "shops": [{"id": "shop_t", "name": "测试小铺"}],
        "buyers": [{"id": "buyer_a", "nick": "甲"}, {"id": "buyer_b", "nick": "乙"}],
        "orders": [
            order("2026110100001", "buyer_a", "纯棉T恤", "completed", "2026-11-01"),
            order("2026110500002", "buyer_a", "牛仔裤", "shipped", "2026-11-05"),
            order("2026111000003", "buyer_a", "羽绒服", "paid", "2026-11-10"),
            order("2026110200004", "buyer_b", "运动鞋", "completed", "2026-11-02"),
        ],
    }


@pytest.fixture()
def order_set() -> Dict[str, Any]:
    return small_order_set()
