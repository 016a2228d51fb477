"""Tests of actions/orders.py: response names, placeholders and events."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.orders import ActionLookupOrder
from tests.actions.conftest import make_tracker


def run_action(tracker: Any) -> tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionLookupOrder().run(dispatcher, tracker, {}))
    return dispatcher.messages, events


def order_entity(value: str) -> Dict[str, Any]:
    return {"entity": "order_id", "value": value, "start": 2, "end": 2 + len(value)}


def test_own_order_by_entity_answers_with_its_status_and_product(seeded_db: str) -> None:
    tracker = make_tracker(
        "订单2026110100001的衣服太大了", "size_issue", entities=[order_entity("2026110100001")]
    )
    messages, events = run_action(tracker)
    assert messages[0]["response"] == "utter_order_status_completed"
    assert messages[0]["product"] == "纯棉T恤"
    assert messages[0]["order_id"] == "2026110100001"
    assert SlotSet("order_id", "2026110100001") in events


def test_order_from_the_slot_is_used_when_the_message_has_none(seeded_db: str) -> None:
    tracker = make_tracker("到哪了", "logistics_query", slots={"order_id": "2026110500002"})
    messages, _ = run_action(tracker)
    assert messages[0]["response"] == "utter_order_status_shipped"
    assert messages[0]["tracking_no"] == "SF1000000001"


def test_another_buyers_order_is_not_found(seeded_db: str) -> None:
    tracker = make_tracker(
        "2026110200004", "provide_order_id", entities=[order_entity("2026110200004")]
    )
    messages, events = run_action(tracker)
    assert messages[0]["response"] == "utter_order_not_found"
    assert "product" not in messages[0]
    assert SlotSet("order_id", None) in events


def test_foreign_and_unknown_ids_get_the_same_answer(seeded_db: str) -> None:
    foreign, _ = run_action(
        make_tracker("x", "provide_order_id", entities=[order_entity("2026110200004")])
    )
    unknown, _ = run_action(
        make_tracker("x", "provide_order_id", entities=[order_entity("2026999999999")])
    )
    assert foreign[0]["response"] == unknown[0]["response"] == "utter_order_not_found"


def test_sql_looking_id_is_not_found(seeded_db: str) -> None:
    tracker = make_tracker(
        "x", "provide_order_id", entities=[order_entity("1 OR 1=1; DROP TABLE orders")]
    )
    messages, _ = run_action(tracker)
    assert messages[0]["response"] == "utter_order_not_found"


def test_without_an_id_the_recent_orders_are_offered_as_buttons(seeded_db: str) -> None:
    messages, events = run_action(make_tracker("我的订单呢", "query_order"))
    assert messages[0]["response"] == "utter_ask_order_id"
    payloads = [button["payload"] for button in messages[0]["buttons"]]
    assert len(payloads) == 3
    assert payloads[0] == '/provide_order_id{"order_id": "2026111000003"}'  # newest first
    assert events == []


def test_a_buyer_with_one_order_gets_it_without_asking(seeded_db: str) -> None:
    messages, _ = run_action(make_tracker("我的订单呢", "query_order", buyer="buyer_b"))
    assert messages[0]["response"] == "utter_order_status_completed"
    assert messages[0]["product"] == "运动鞋"


def test_a_buyer_without_orders_is_asked_for_an_id(seeded_db: str) -> None:
    messages, _ = run_action(make_tracker("查订单", "query_order", buyer="buyer_zzz"))
    assert messages[0]["response"] == "utter_no_orders"


def test_a_message_without_identity_is_refused(seeded_db: str) -> None:
    messages, events = run_action(make_tracker("查订单", "query_order", buyer=None))
    assert messages[0]["response"] == "utter_login_required"
    assert events == []
