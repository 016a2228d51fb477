"""Conversation events shaped as Rasa 3.6's pika event broker publishes them.

Each message is ``{"sender_id": ..., **event.as_dict()}`` (``json.dumps``,
no headers). The shapes below were copied from a real Rasa 3.6.21 server's
queue (a conversation with a claim and a handoff, as in
``tests/e2e/test_event_figures.py``) and trimmed: entities, tokens and the
response values are left out. Several events of one action run share one
timestamp; the AMQP ``message_id`` aio-pika sets is new on every publish
(also when Rasa publishes an event again after a reconnection).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

#: 2026-11-24 12:00 China time (04:00 UTC).
NOON = 1795492800.0


def user(
    sender: str,
    text: str,
    intent: Optional[str],
    at: float = NOON,
    confidence: float = 0.93,
) -> Dict[str, Any]:
    """A buyer's message (``UserUttered``) with NLU's parse."""
    parse: Dict[str, Any] = {
        "intent": {"name": intent, "confidence": confidence} if intent else {},
        "entities": [],
        "text": text,
        "message_id": f"m-{at}",
        "metadata": {"shopbot": {"sub": "buyer_001", "role": "buyer"}},
        "intent_ranking": [{"name": intent, "confidence": confidence}] if intent else [],
    }
    return {
        "sender_id": sender,
        "event": "user",
        "timestamp": at,
        "metadata": {
            "shopbot": {"sub": "buyer_001", "role": "buyer"},
            "model_id": "50ebd76fb6a942599c005aee059a0edb",
            "assistant_id": "shopbot",
        },
        "text": text,
        "parse_data": parse,
        "input_channel": "shop",
        "message_id": f"m-{at}",
    }


def bot(
    sender: str,
    response: Optional[str],
    at: float = NOON + 1,
    custom: Optional[Dict[str, Any]] = None,
    **metadata: Any,
) -> Dict[str, Any]:
    """A bot message (``BotUttered``) of a custom action's response."""
    meta: Dict[str, Any] = {}
    if response is not None:
        meta.update(utter_action=response, template=response)
    meta.update(model_id="50ebd76fb6a942599c005aee059a0edb", assistant_id="shopbot", **metadata)
    return {
        "sender_id": sender,
        "event": "bot",
        "timestamp": at,
        "metadata": meta,
        "text": "好的",
        "data": {
            "elements": None,
            "quick_replies": None,
            "buttons": None,
            "attachment": None,
            "image": None,
            "custom": custom,
        },
    }


def claim_opened(sender: str, at: float = NOON + 2, problem: str = "size_issue") -> Dict[str, Any]:
    """The bot's message that a claim was opened (``action_confirm_claim``)."""
    decision = {"problem": problem, "route": "no_reason", "eligible": True}
    return bot(sender, "utter_claim_opened", at, custom={"rule_ids": ["W1"], "decision": decision})


def handoff(
    sender: str, at: float = NOON + 3, reason: str = "request_human", handoff_id: int = 1
) -> Dict[str, Any]:
    """The bot's message that hands the conversation to a person (``action_handoff``)."""
    custom = {"handoff": True, "handoff_id": handoff_id, "reason": reason}
    return bot(sender, f"utter_handoff_{reason}", at, custom=custom)


def action(sender: str, name: str, at: float = NOON + 1) -> Dict[str, Any]:
    """An action run (``ActionExecuted``)."""
    return {
        "sender_id": sender,
        "event": "action",
        "timestamp": at,
        "metadata": {"model_id": "m1", "assistant_id": "shopbot"},
        "name": name,
        "policy": "RulePolicy",
        "confidence": 1.0,
        "action_text": None,
        "hide_rule_turn": False,
    }


def pause(sender: str, at: float = NOON + 4) -> Dict[str, Any]:
    """The conversation is paused (``ConversationPaused``)."""
    return {
        "sender_id": sender,
        "event": "pause",
        "timestamp": at,
        "metadata": {"model_id": "50ebd76fb6a942599c005aee059a0edb", "assistant_id": "shopbot"},
    }


def slot(sender: str, name: str, value: Any, at: float = NOON + 1) -> Dict[str, Any]:
    """A slot set (``SlotSet``)."""
    return {
        "sender_id": sender,
        "event": "slot",
        "timestamp": at,
        "metadata": {},
        "name": name,
        "value": value,
    }


def body(event: Dict[str, Any]) -> bytes:
    """The message body as the broker publishes it (``json.dumps``)."""
    return json.dumps(event).encode("utf-8")
