"""The after-sales dialogue: what the bot says next, as response names and values.

Each function takes what the conversation knows (a :class:`Turn`, read from
the Rasa tracker by ``actions/``) and returns a :class:`Reply`: the
``domain.yml`` responses to send with their placeholders, buttons and
``custom`` payloads, the slots to set, and whether the conversation is
handed to a person. The texts are never here: they live in ``domain.yml``
(messages), ``bot/policy/rules.yml`` (facts of the rules) and
``bot/conversation.yml`` (button titles).

Slots the dialogue keeps (``domain.yml``): ``order_id`` (the order talked
about), ``problem`` (the question waiting for an order, or the claim being
confirmed), ``awaiting`` (``claim_confirm`` or ``return_waybill``) and
``order_misses`` (unknown order ids in a row).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml
from pydantic import BaseModel, ConfigDict

from bot import handoffs, services
from bot.auth import Identity
from bot.cues import cached_cues, read_facts
from bot.db.models import CLAIM_TYPES, HANDOFF_CHANNELS
from bot.orders import OrderView, find_waybill
from bot.policy.engine import BuyerFacts, Decision, china_date
from bot.policy.table import RuleTable
from bot.replies import claim_values, decision_values, format_date, order_values
from bot.settings import Settings

#: The dialogue's button titles and topic names.
DEFAULT_TEXTS = Path(__file__).resolve().parent / "conversation.yml"

#: Order questions answered from the order itself, not the rule table.
ORDER_QUESTIONS = ("query_order", "logistics_query", "invoice", "refund_progress")
#: Unknown order ids in a row after which a person is offered.
MAX_ORDER_MISSES = 2
#: Fallbacks in a row after which a person is offered.
MAX_FALLBACKS = 2
#: Intents never offered as a "did you mean" topic.
_NOT_TOPICS = ("nlu_fallback", "out_of_scope", "greet", "goodbye", "thank", "affirm", "deny")
#: How many of the buyer's latest messages a handoff summary keeps.
SUMMARY_MESSAGES = 10

#: The response that describes an order in each status.
STATUS_RESPONSES = {
    "unpaid": "utter_order_status_unpaid",
    "paid": "utter_order_status_paid",
    "shipped": "utter_order_status_shipped",
    "delivered": "utter_order_status_delivered",
    "completed": "utter_order_status_completed",
    "closed": "utter_order_status_closed",
}
#: The response that tells the buyer a person takes over, by reason.
HANDOFF_RESPONSES = {
    "request_human": "utter_handoff_request_human",
    "complaint": "utter_handoff_complaint",
    "intervention": "utter_handoff_intervention",
}

AWAIT_CLAIM = "claim_confirm"
AWAIT_WAYBILL = "return_waybill"


class DialogueTexts(BaseModel):
    """Button titles (``buttons``) and intent topics (``topics``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    buttons: Dict[str, str]
    topics: Dict[str, str]


@lru_cache(maxsize=2)
def dialogue_texts(path: Optional[Path] = None) -> DialogueTexts:
    """Return the validated ``conversation.yml``, read once per process."""
    raw = yaml.safe_load((path or DEFAULT_TEXTS).read_text(encoding="utf-8"))
    return DialogueTexts.model_validate(raw)


@dataclass(frozen=True)
class Button:
    """A quick reply: the title shown and the payload sent back."""

    title: str
    payload: str


@dataclass(frozen=True)
class Message:
    """One response of ``domain.yml`` to send.

    Attributes:
        response: The response name (``utter_…``).
        values: Its placeholders.
        buttons: Quick replies.
        custom: The ``custom`` payload (rule ids, decision, handoff).
    """

    response: str
    values: Mapping[str, Any] = field(default_factory=dict)
    buttons: Tuple[Button, ...] = ()
    custom: Optional[Mapping[str, Any]] = None


@dataclass(frozen=True)
class Reply:
    """What the bot does next.

    Attributes:
        messages: The responses, in order.
        slots: Slots to set (None clears one).
        pause: The conversation goes to a person: the bot stops answering
            until an agent releases it.
    """

    messages: Tuple[Message, ...]
    slots: Mapping[str, Any] = field(default_factory=dict)
    pause: bool = False


@dataclass(frozen=True)
class Turn:
    """What the conversation knows when the bot answers.

    Attributes:
        who: The verified buyer or seller.
        intent: The latest message's intent.
        said: The buyer's texts in this conversation, oldest first, the
            latest one included.
        order_id: The order id entity of the latest message.
        known_order_id: The order talked about so far (slot).
        problem: The problem talked about: the question waiting for an
            order, the claim being confirmed, or the last after-sales
            problem asked (slot).
        awaiting: What the bot asked for (slot).
        order_misses: Unknown order ids in a row (slot).
        tracking_no: The waybill entity of the latest message.
        ranking: The NLU intent ranking (name, confidence), best first.
        fallbacks: Fallbacks in a row, the latest message included.
        conversation_id: The conversation (Rasa sender id).
        channel: The input channel (``shop``, ``im``).
    """

    who: Identity
    intent: str
    said: Tuple[str, ...] = ()
    order_id: Optional[str] = None
    known_order_id: Optional[str] = None
    problem: Optional[str] = None
    awaiting: Optional[str] = None
    order_misses: int = 0
    tracking_no: Optional[str] = None
    ranking: Tuple[Tuple[str, float], ...] = ()
    fallbacks: int = 0
    conversation_id: str = ""
    channel: str = ""

    @property
    def text(self) -> str:
        """The latest message's text."""
        return self.said[-1] if self.said else ""


def _button(title_key: str, payload: str) -> Button:
    return Button(dialogue_texts().buttons[title_key], payload)


def _order_button(table: RuleTable, order: OrderView) -> Button:
    """A button that picks ``order``: product, payment date, status."""
    paid = format_date(table.formats, china_date(order.paid_at)) if order.paid_at else ""
    status = table.statuses.get(order.status, "")
    title = " · ".join(part for part in (order.product, paid, status) if part)
    payload = "/provide_order_id" + json.dumps({"order_id": order.order_id})
    return Button(title, payload)


def _human_button() -> Button:
    return _button("human", "/request_human")


def _custom(decision: Decision) -> Dict[str, Any]:
    return {"rule_ids": list(decision.rules), "decision": decision.to_json()}


def _facts(turn: Turn) -> BuyerFacts:
    return read_facts(cached_cues(), turn.said)


# --------------------------------------------------------------------------
# Which order?


@dataclass(frozen=True)
class _Found:
    """The order a turn is about, or the reply that asks for it."""

    order: Optional[OrderView] = None
    reply: Optional[Reply] = None
    assumed: bool = False
    decided: Optional[services.DecisionResult] = None


def _which_order(
    settings: Settings, turn: Turn, problem: str, decide: Optional[str] = None
) -> _Found:
    """Find the order the buyer means, or the reply asking which one.

    With ``decide``, the order found comes with the rule engine's decision
    about that problem, read together with it (one read of the order).
    """
    raw = turn.order_id or turn.known_order_id
    table = services.policy_table(settings)
    facts = _facts(turn) if decide else None
    lookup = services.lookup_order(settings, turn.who.subject, raw, decide, facts)
    if lookup.outcome == "found" and lookup.order is not None:
        return _Found(lookup.order, assumed=raw is None, decided=lookup.decided)
    if lookup.outcome == "not_found":
        misses = turn.order_misses + 1
        values = {"order_id": lookup.order_id or ""}
        slots = {"order_id": None, "order_misses": float(misses), "problem": problem}
        if misses >= MAX_ORDER_MISSES:
            message = Message("utter_order_not_found_offer_human", values, (_human_button(),))
        else:
            message = Message("utter_order_not_found", values)
        return _Found(reply=Reply((message,), slots))
    if lookup.outcome == "no_orders":
        return _Found(reply=Reply((Message("utter_no_orders"),), {"problem": problem}))
    buttons = tuple(_order_button(table, order) for order in lookup.candidates)
    return _Found(
        reply=Reply((Message("utter_ask_order_id", buttons=buttons),), {"problem": problem})
    )


# --------------------------------------------------------------------------
# Buyer questions about an order


def answer(settings: Settings, turn: Turn) -> Reply:
    """Answer an order or after-sales question about one of the buyer's orders.

    ``provide_order_id`` answers the question that waited for the order (or
    describes the order); a seller gets the seller's view (:func:`seller`).
    """
    if turn.who.role == "seller":
        return seller(settings, turn)
    table = services.policy_table(settings)
    problem = turn.intent
    if problem == "provide_order_id":
        problem = turn.problem or "query_order"
    elif table.problems.get(problem) == "general" and turn.problem in CLAIM_TYPES:
        problem = turn.problem  # "运费谁出?" about the problem already on the table
    # Questions answered by the rule engine get its decision with the order.
    decide = problem if problem == "refund_progress" or problem not in ORDER_QUESTIONS else None
    found = _which_order(settings, turn, problem, decide)
    if found.reply is not None:
        return _back_to_pending(turn, found.reply, problem)
    assert found.order is not None
    order = found.order
    lead: List[Message] = []
    if found.assumed:
        lead.append(Message("utter_order_assumed", order_values(table, order)))
    # The problem stays on the table for the next question or order.
    kept = problem if problem in CLAIM_TYPES else None
    slots: Dict[str, Any] = {"order_id": order.order_id, "order_misses": 0.0, "problem": kept}
    if problem == "refund_progress":
        reply = _refund_progress(settings, order, found.decided)
    elif problem in ORDER_QUESTIONS:
        reply = _order_status(table, order, problem)
    else:
        reply = _policy(settings, order, problem, found.decided)
    reply = _back_to_pending(turn, reply, problem)
    return Reply((*lead, *reply.messages), {**slots, **reply.slots}, reply.pause)


def _order_status(table: RuleTable, order: OrderView, problem: str) -> Reply:
    values = order_values(table, order)
    if problem == "invoice":
        return Reply((Message("utter_invoice", values),))
    return Reply((Message(STATUS_RESPONSES[order.status], values),))


def _back_to_pending(turn: Turn, reply: Reply, problem: str) -> Reply:
    """After a digression, ask again what the buyer was confirming.

    The confirmation stays about its own order and problem: the order the
    digression was about (or an unknown one it named) must not take their
    place, or the buyer's yes would open a claim on another order.
    """
    if turn.awaiting != AWAIT_CLAIM or "awaiting" in reply.slots:
        return reply
    again = Message(
        "utter_claim_confirm_again",
        {"order_id": turn.known_order_id or ""},
        (_button("open_claim", "/affirm"), _button("not_now", "/deny")),
    )
    slots = {"awaiting": AWAIT_CLAIM, "problem": turn.problem, "order_id": turn.known_order_id}
    return Reply((*reply.messages, again), {**reply.slots, **slots}, reply.pause)


def _policy(
    settings: Settings,
    order: OrderView,
    problem: str,
    result: Optional[services.DecisionResult],
) -> Reply:
    """The rule engine's answer for ``problem``, with the claim offer when allowed.

    Args:
        settings: Process settings.
        order: The buyer's order.
        problem: The problem asked about.
        result: The decision about it, read with the order.
    """
    table = services.policy_table(settings)
    if result is None or result.decision is None:
        return Reply((Message("utter_order_not_found", {"order_id": order.order_id}),))
    decision = result.decision
    if result.claim is not None and decision.reason == "dispute_used":
        values = {**claim_values(table, result.claim), "order_id": order.order_id}
        return Reply((Message("utter_claim_exists", values, custom=_custom(decision)),))
    messages = list(decision_messages(table, order, decision))
    slots: Dict[str, Any] = {}
    if decision.can_open_claim and problem in CLAIM_TYPES:
        messages.append(
            Message(
                "utter_offer_claim",
                {"order_id": order.order_id, "route_name": decision.route_name},
                (_button("open_claim", "/affirm"), _button("not_now", "/deny")),
            )
        )
        slots = {"awaiting": AWAIT_CLAIM, "problem": problem}
    return Reply(tuple(messages), slots)


def decision_messages(
    table: RuleTable, order: OrderView, decision: Decision
) -> Tuple[Message, ...]:
    """The messages that state a decision: the route, postage, evidence.

    The first carries the rule ids and the decision in ``custom``.
    """
    values = {**order_values(table, order), **decision_values(table, decision)}
    if decision.route == "in_transaction":
        main = "utter_policy_in_transaction"
    elif decision.route == "statutory_repair":
        main = "utter_policy_statutory_repair"
    elif not decision.eligible:
        main = "utter_policy_closed" if decision.window_end else "utter_policy_not_eligible"
    elif decision.days_left == 0:
        main = "utter_policy_eligible_last_day"
    elif decision.window_end is not None:
        main = "utter_policy_eligible"
    else:
        main = "utter_policy_eligible_no_deadline"
    messages = [Message(main, values, custom=_custom(decision))]
    if values["postage"]:
        messages.append(Message("utter_policy_postage", values))
    if decision.postage_due_refused:
        messages.append(Message("utter_policy_postage_due_refused", values))
    if values["evidence"]:
        name = "utter_policy_evidence_any" if decision.evidence_any_of else "utter_policy_evidence"
        messages.append(Message(name, values))
    return tuple(messages)


def _refund_progress(
    settings: Settings, order: OrderView, result: Optional[services.DecisionResult]
) -> Reply:
    """Where the refund stands; E6 asks for the return waybill.

    Args:
        settings: Process settings.
        order: The buyer's order.
        result: The ``refund_progress`` decision, read with the order.
    """
    table = services.policy_table(settings)
    values = order_values(table, order)
    if result is None or result.claim is None or result.decision is None:
        return Reply((Message("utter_refund_no_claim", values),))
    claim, decision = result.claim, result.decision
    values = {**values, **claim_values(table, claim), **decision_values(table, decision)}
    custom = _custom(decision)
    if claim.status != "seller_signed":
        name = "utter_claim_status_waiting" if values["next_deadline"] else "utter_claim_status"
        return Reply((Message(name, values, custom=custom),))
    if decision.reason != "refund_overdue":
        return Reply((Message("utter_refund_due", values, custom=custom),))
    ask = Message(
        "utter_ask_return_waybill", values, (_button("no_waybill", "/deny"),), custom=custom
    )
    return Reply((ask,), {"awaiting": AWAIT_WAYBILL})


def return_waybill(settings: Settings, turn: Turn) -> Reply:
    """E6: take the return waybill, confirm it back and hand over to a person.

    A message without a waybill asks once more; "no waybill" (deny) gets the
    advice to negotiate with the seller.
    """
    table = services.policy_table(settings)
    if turn.intent == "deny":
        step = table.steps["negotiate_waybill"]
        return Reply((Message("utter_no_return_waybill", {"steps": step}),), {"awaiting": None})
    waybill = find_waybill(turn.tracking_no or "") or find_waybill(turn.text)
    if waybill is None:
        again = Message("utter_ask_return_waybill_again", buttons=(_button("no_waybill", "/deny"),))
        return Reply((again,), {"awaiting": AWAIT_WAYBILL})
    facts = replace(_facts(turn), return_waybill=waybill)
    result = services.decide_for_order(
        settings, turn.who.subject, turn.known_order_id, "refund_progress", facts
    )
    values: Dict[str, Any] = {"return_waybill": waybill, "order_id": turn.known_order_id or ""}
    if result.decision is not None:
        values.update(decision_values(table, result.decision))
    confirm = Message("utter_return_waybill_confirmed", values)
    handed = hand_off(settings, turn, "intervention", extra={"return_waybill": waybill})
    return Reply((confirm, *handed.messages), {**handed.slots, "awaiting": None}, True)


# --------------------------------------------------------------------------
# Claims


def confirm_claim(settings: Settings, turn: Turn) -> Reply:
    """The buyer confirmed: open the claim and give its number, evidence, deadline."""
    table = services.policy_table(settings)
    problem = turn.problem or ""
    result = services.open_claim(
        settings,
        turn.who.subject,
        turn.known_order_id,
        problem,
        _facts(turn),
        reason=_reason(turn),
    )
    slots = {"awaiting": None, "problem": None}
    if result.outcome == "opened" and result.claim is not None:
        values = claim_values(table, result.claim)
        custom = _custom(result.decision) if result.decision else None
        messages = [Message("utter_claim_opened", values, custom=custom)]
        if values["claim_evidence"]:
            messages.append(Message("utter_claim_evidence", values))
        return Reply(tuple(messages), slots)
    if result.outcome == "already_opened" and result.claim is not None:
        return Reply((Message("utter_claim_exists", claim_values(table, result.claim)),), slots)
    if result.outcome == "not_allowed" and result.decision is not None:
        values = decision_values(table, result.decision)
        return Reply((Message("utter_claim_not_allowed", values),), slots)
    return Reply((Message("utter_claim_nothing_to_confirm"),), slots)


def _reason(turn: Turn) -> Optional[str]:
    """The buyer's own words about the problem: the latest long enough message."""
    for text in reversed(turn.said):
        if len(text.strip()) > 3:
            return text.strip()[:500]
    return None


def decline_claim(turn: Turn) -> Reply:
    """The buyer changed their mind: nothing is opened."""
    values = {"order_id": turn.known_order_id or ""}
    return Reply((Message("utter_claim_declined", values),), {"awaiting": None, "problem": None})


# --------------------------------------------------------------------------
# People, fallback, sellers


def hand_off(
    settings: Settings,
    turn: Turn,
    reason: str,
    extra: Optional[Mapping[str, Any]] = None,
) -> Reply:
    """Record a handoff with a case summary and tell the buyer what happens next."""
    summary = case_summary(settings, turn, extra)
    record = handoffs.record_handoff(
        settings,
        conversation_id=turn.conversation_id,
        channel=turn.channel if turn.channel in HANDOFF_CHANNELS else "shop",
        subject=turn.who.subject,
        role=turn.who.role,
        reason=reason,
        order_id=summary.get("order_id"),
        problem=summary.get("problem"),
        summary=summary,
    )
    custom = {"handoff": True, "handoff_id": record.id, "reason": reason}
    values = {"order_id": summary.get("order_id") or ""}
    return Reply(
        (Message(HANDOFF_RESPONSES[reason], values, custom=custom),),
        {"awaiting": None, "problem": None},
        pause=True,
    )


def case_summary(
    settings: Settings, turn: Turn, extra: Optional[Mapping[str, Any]] = None
) -> Dict[str, Any]:
    """What an agent needs to act: order, problem, decision, evidence, the buyer's words."""
    summary: Dict[str, Any] = {
        "order_id": None,
        "problem": turn.problem or (turn.intent if turn.intent in CLAIM_TYPES else None),
        "buyer_said": [text for text in turn.said if text.strip()][-SUMMARY_MESSAGES:],
        **dict(extra or {}),
    }
    if turn.who.role != "buyer" or not turn.known_order_id:
        return summary
    table = services.policy_table(settings)
    problem = summary["problem"]
    decide = problem if problem in table.problems else None
    lookup = services.lookup_order(
        settings, turn.who.subject, turn.known_order_id, decide, _facts(turn) if decide else None
    )
    if lookup.order is None:
        return summary
    summary["order_id"] = lookup.order.order_id
    summary["order"] = {
        key: value for key, value in order_values(table, lookup.order).items() if value
    }
    if decide is not None:
        result = lookup.decided
        if result is not None and result.decision is not None:
            summary["decision"] = result.decision.to_json()
        summary["claim"] = claim_values(table, result.claim) if result and result.claim else None
    evidence = services.claim_evidence(settings, lookup.order.order_id)
    if evidence is not None:
        summary["evidence"] = {
            "needed": [item.item for item in evidence.checklist],
            "uploaded": [item.item for item in evidence.checklist if item.files > 0],
        }
    return summary


def clarify(turn: Turn) -> Reply:
    """Low NLU confidence: offer the two likeliest topics; on the second miss, a person.

    A blank message is not a miss: the buyer is asked what they need.
    """
    if not turn.text.strip():
        return Reply((Message("utter_empty_message"),))
    if turn.fallbacks >= MAX_FALLBACKS:
        return Reply((Message("utter_offer_human", buttons=(_human_button(),)),))
    topics = dialogue_texts().topics
    likely = [name for name, _ in turn.ranking if name in topics and name not in _NOT_TOPICS][:2]
    if not likely:
        return Reply((Message("utter_default"),))
    buttons = tuple(Button(topics[name], f"/{name}") for name in likely)
    return Reply((Message("utter_clarify", buttons=buttons),))


def seller(settings: Settings, turn: Turn) -> Reply:
    """A seller asks: guidance, and the decision for an order of their shop."""
    raw = turn.order_id or turn.known_order_id
    if turn.who.role != "seller" or not raw:
        return Reply((Message("utter_seller_guidance"),))
    asked = turn.intent if turn.intent in services.policy_table(settings).problems else None
    result = services.shop_order_decision(settings, turn.who.subject, raw, asked, _facts(turn))
    if result.order is None or result.decision is None:
        values = {"order_id": result.order_id or ""}
        return Reply((Message("utter_seller_order_not_found", values),), {"order_id": None})
    table = services.policy_table(settings)
    values = {
        **order_values(table, result.order),
        **decision_values(table, result.decision),
    }
    custom = _custom(result.decision)
    name = "utter_seller_order" if values["window_end"] else "utter_seller_order_no_deadline"
    messages = [Message(name, values, custom=custom)]
    if values["postage"]:
        messages.append(Message("utter_policy_postage", values))
    if values["evidence"]:
        messages.append(Message("utter_seller_evidence", values))
    if result.claim is not None:
        messages.append(Message("utter_seller_claim", claim_values(table, result.claim)))
    messages.append(Message("utter_seller_no_penalty"))
    return Reply(tuple(messages), {"order_id": result.order.order_id})


__all__ = [
    "AWAIT_CLAIM",
    "AWAIT_WAYBILL",
    "Button",
    "Message",
    "Reply",
    "Turn",
    "answer",
    "case_summary",
    "clarify",
    "confirm_claim",
    "decision_messages",
    "decline_claim",
    "dialogue_texts",
    "hand_off",
    "return_waybill",
    "seller",
]
