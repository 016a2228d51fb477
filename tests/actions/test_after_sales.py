"""Tests of actions/ (after_sales, claims, handoff, fallback, seller, tracker).

Real SQLite behind get_settings(); asserts response names, values and events.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Tuple

import pytest
from rasa_sdk import Action
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.after_sales import ActionAnswer
from actions.claims import ActionConfirmClaim, ActionDeclineClaim
from actions.fallback import ActionClarify
from actions.handoff import ActionHandoff
from actions.seller import ActionSellerGuidance
from actions.tracker import fallbacks_in_a_row
from bot.settings import get_settings
from tests.actions.conftest import make_tracker

Run = Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]


def run(action: Action, tracker: Any) -> Run:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages, events


def order_entity(value: str) -> Dict[str, Any]:
    return {"entity": "order_id", "value": value, "start": 2, "end": 2 + len(value)}


def test_policy_answer_carries_rule_ids_and_offers_a_claim(seeded_db: str) -> None:
    tracker = make_tracker(
        "订单2026110100001的衣服质量有问题",
        "quality_issue",
        entities=[order_entity("2026110100001")],
    )
    messages, events = run(ActionAnswer(), tracker)
    assert messages[0]["response"].startswith("utter_policy_")
    assert messages[0]["custom"]["rule_ids"]
    assert messages[0]["order_id"] == "2026110100001" and messages[0]["product"] == "纯棉T恤"
    assert all(messages[0][key] not in (None, "None") for key in ("route_name", "steps"))
    assert SlotSet("order_id", "2026110100001") in events


def test_order_question_uses_the_slot(seeded_db: str) -> None:
    tracker = make_tracker("到哪了", "logistics_query", slots={"order_id": "2026110500002"})
    messages, _ = run(ActionAnswer(), tracker)
    assert messages[0]["response"] == "utter_order_status_shipped"
    assert messages[0]["tracking_no"] == "SF1000000001"


def test_another_buyers_order_is_not_found(seeded_db: str) -> None:
    tracker = make_tracker(
        "2026110200004", "provide_order_id", entities=[order_entity("2026110200004")]
    )
    messages, events = run(ActionAnswer(), tracker)
    assert [m["response"] for m in messages] == ["utter_order_not_found"]
    assert "product" not in messages[0]
    assert SlotSet("order_id", None) in events and SlotSet("order_misses", 1.0) in events


def test_no_identity_changes_nothing(seeded_db: str) -> None:
    messages, events = run(ActionAnswer(), make_tracker("查订单", "query_order", buyer=None))
    assert [m["response"] for m in messages] == ["utter_login_required"] and events == []


def test_confirm_then_decline(seeded_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPBOT_TODAY", "2026-11-05")  # inside W1 of the 11-01 order
    get_settings.cache_clear()
    slots = {"order_id": "2026110100001", "problem": "quality_issue", "awaiting": "claim_confirm"}
    messages, events = run(ActionConfirmClaim(), make_tracker("好的", "affirm", slots=slots))
    assert messages[0]["response"] == "utter_claim_opened"
    assert messages[0]["claim_no"] == "AS2026110100001"
    assert SlotSet("awaiting", None) in events
    messages, events = run(ActionDeclineClaim(), make_tracker("不用", "deny", slots=slots))
    assert messages[0]["response"] == "utter_claim_declined" and SlotSet("awaiting", None) in events


def test_handoff_pauses_the_conversation(seeded_db: str) -> None:
    messages, events = run(ActionHandoff(), make_tracker("我要投诉", "complaint"))
    assert messages[0]["response"] == "utter_handoff_complaint"
    assert messages[0]["custom"]["handoff"] is True
    assert ConversationPaused() in events


def test_fallback_counts_misses_in_a_row(seeded_db: str) -> None:
    tracker = make_tracker("嗯嗯啊", "nlu_fallback")
    assert fallbacks_in_a_row(tracker) == 1
    messages, _ = run(ActionClarify(), tracker)
    assert messages[0]["response"] in ("utter_clarify", "utter_default")


def test_seller_without_order_gets_guidance(seeded_db: str) -> None:
    tracker = make_tracker("买家申请售后怎么处理", "seller_handle_after_sales")
    tracker.latest_message["metadata"] = {"shopbot": {"sub": "shop_t", "role": "seller"}}
    messages, _ = run(ActionSellerGuidance(), tracker)
    assert [m["response"] for m in messages] == ["utter_seller_guidance"]


def test_a_new_session_keeps_slots_and_a_handoff_paused(seeded_db: str) -> None:
    from rasa_sdk.events import SessionStarted

    from actions.session import ActionSessionStart

    tracker = make_tracker("在吗", "greet", slots={"order_id": "2026110100001", "awaiting": None})
    _, events = run(ActionSessionStart(), tracker)
    assert events[0] == SessionStarted() and SlotSet("order_id", "2026110100001") in events
    assert ConversationPaused() not in events
    run(ActionHandoff(), make_tracker("转人工", "request_human"))  # conversation conv-1
    _, events = run(ActionSessionStart(), tracker)
    assert ConversationPaused() in events
