"""Tests of bot/conversation.py: which responses, values, slots and handoffs.

The database holds the demo orders (data/demo/orders.yaml); today is pinned to
2026-11-24. Assertions name responses and values, never sentences.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import conversation, handoffs
from bot.auth import Identity
from bot.conversation import AWAIT_CLAIM, AWAIT_WAYBILL, Reply, Turn
from bot.services import order_claims
from bot.settings import Settings
from tests.bot.db_helpers import settings_for
from tests.bot.dialogue_helpers import (
    FakeDialogue,
    Said,
    check_claims,
    forget_claims,
    scripts,
    stored_claims,
)
from tests.strategies import fuzz

BUYER = Identity("buyer_001", "buyer")
SELLER = Identity("shop_01", "seller")
SIZE = "2026111000001"  # general, completed 11-16: W1 open through 12-01, N1 closed
OLD = "2026100300002"  # general, completed 10-10: W1 closed
AIRCON = "2026092100003"  # durable 三包 (shop_02), completed 09-25: inside W2
PAID = "2026112300010"  # paid, not shipped (W7)
SIGNED = "2026110200012"  # claim: seller signed the return 11-06... (E6)
OTHERS = "2026110500101"  # buyer_002's order (shop_01)


@pytest.fixture()
def settings(demo_url: str, tmp_path: Path) -> Settings:
    return settings_for(demo_url, tmp_path)


def _turn(intent: str, *said: str, **changes: Any) -> Turn:
    values: Dict[str, Any] = {
        "who": BUYER,
        "intent": intent,
        "said": said or ("…",),
        "conversation_id": "conv-1",
        "channel": "shop",
    }
    values.update(changes)
    return Turn(**values)


def _names(reply: Reply) -> List[str]:
    return [message.response for message in reply.messages]


def _values(reply: Reply, response: str) -> Dict[str, Any]:
    return dict(next(m.values for m in reply.messages if m.response == response))


def test_size_question_states_route_deadline_and_offers_a_claim(settings: Settings) -> None:
    reply = conversation.answer(settings, _turn("size_issue", "衣服大了", order_id=SIZE))
    assert _names(reply)[0] == "utter_policy_eligible"
    main = _values(reply, "utter_policy_eligible")
    assert main["window_end"] == "2026年12月1日" and main["days_left"] == 7  # W1 from 11-16
    assert "W1" in reply.messages[0].custom["rule_ids"]  # type: ignore[index]
    assert "utter_offer_claim" in _names(reply)
    assert reply.slots["awaiting"] == AWAIT_CLAIM and reply.slots["problem"] == "size_issue"
    assert reply.slots["order_id"] == SIZE


def test_postage_names_each_leg_and_payer(settings: Settings) -> None:
    reply = conversation.answer(settings, _turn("wrong_item", "发错货了", order_id=SIZE))
    postage = _values(reply, "utter_policy_postage")["postage"]
    assert "卖家" in postage and "买家" not in postage  # F5: the seller pays both ways


def test_closed_window_answers_with_the_date_and_no_offer(settings: Settings) -> None:
    reply = conversation.answer(settings, _turn("return_goods", "想退货", order_id=OLD))
    assert _names(reply)[0] == "utter_policy_closed"
    assert _values(reply, "utter_policy_closed")["window_end"] == "2026年10月25日"
    assert "utter_offer_claim" not in _names(reply) and "awaiting" not in reply.slots


def test_before_success_the_answer_is_negotiate_first(settings: Settings) -> None:
    reply = conversation.answer(settings, _turn("refund_request", "不想要了", order_id=PAID))
    assert _names(reply)[0] == "utter_policy_in_transaction"
    assert "W7" in reply.messages[0].custom["rule_ids"]  # type: ignore[index]


def test_buyer_words_reach_the_engine(settings: Settings) -> None:
    reply = conversation.answer(settings, _turn("quality_issue", "有线头", order_id=SIZE))
    assert "Q1" in reply.messages[0].custom["rule_ids"]  # type: ignore[index]


def test_unknown_and_foreign_ids_get_the_same_answer_then_a_person(settings: Settings) -> None:
    foreign = conversation.answer(settings, _turn("provide_order_id", "x", order_id=OTHERS))
    unknown = conversation.answer(settings, _turn("provide_order_id", "x", order_id="2026000000"))
    assert _names(foreign) == _names(unknown) == ["utter_order_not_found"]
    assert foreign.slots["order_misses"] == 1.0
    second = conversation.answer(
        settings, _turn("provide_order_id", "x", order_id=OTHERS, order_misses=1)
    )
    assert _names(second) == ["utter_order_not_found_offer_human"]
    assert second.messages[0].buttons[0].payload == "/request_human"


def test_without_an_id_the_buyer_chooses_and_the_question_waits(settings: Settings) -> None:
    ask = conversation.answer(settings, _turn("shipping_fee", "运费谁出"))
    assert _names(ask) == ["utter_ask_order_id"]
    assert ask.slots["problem"] == "shipping_fee"
    payloads = [button.payload for button in ask.messages[0].buttons]
    assert len(payloads) == 5 and all(p.startswith("/provide_order_id{") for p in payloads)
    assert PAID in payloads[0]  # the most recently paid first
    chosen = conversation.answer(
        settings,
        _turn("provide_order_id", "/provide_order_id", order_id=SIZE, problem="shipping_fee"),
    )
    assert _names(chosen)[0].startswith("utter_policy_")
    assert chosen.messages[0].custom["decision"]["problem"] == "shipping_fee"  # type: ignore[index]


def test_confirming_opens_the_claim_once(settings: Settings) -> None:
    turn = _turn(
        "affirm",
        "衣服大了",
        "好的",
        known_order_id=SIZE,
        problem="size_issue",
        awaiting=AWAIT_CLAIM,
    )
    opened = conversation.confirm_claim(settings, turn)
    assert _names(opened)[0] == "utter_claim_opened"
    assert _values(opened, "utter_claim_opened")["claim_no"] == f"AS{SIZE}"
    assert _values(opened, "utter_claim_opened")["next_deadline"]
    assert opened.slots == {"awaiting": None, "problem": None}
    again = conversation.confirm_claim(settings, turn)
    assert _names(again) == ["utter_claim_exists"]  # W8
    assert len(order_claims(settings, "buyer_001", SIZE).claims) == 1


def test_declining_opens_nothing(settings: Settings) -> None:
    reply = conversation.decline_claim(_turn("deny", known_order_id=SIZE, awaiting=AWAIT_CLAIM))
    assert _names(reply) == ["utter_claim_declined"] and reply.slots["awaiting"] is None
    assert order_claims(settings, "buyer_001", SIZE).claims == []


def test_a_digression_returns_to_the_confirmation(settings: Settings) -> None:
    turn = _turn(
        "after_sales_period",
        "售后期多久",
        known_order_id=SIZE,
        problem="size_issue",
        awaiting=AWAIT_CLAIM,
    )
    reply = conversation.answer(settings, turn)
    assert _names(reply)[-1] in ("utter_claim_confirm_again", "utter_offer_claim")
    assert reply.slots["awaiting"] == AWAIT_CLAIM


@pytest.mark.parametrize(
    ("intent", "order_id"),
    [
        ("query_order", OLD),  # another order, no offer
        ("return_goods", OLD),  # another order, window closed
        ("size_issue", OTHERS),  # another buyer's order: not found
        ("quality_issue", "2026000000000"),  # no such order
    ],
)
def test_a_digression_to_another_order_keeps_the_confirmation_on_its_own(
    settings: Settings, intent: str, order_id: str
) -> None:
    # Found by the claims property: the yes after a digression opened the
    # claim on the digression's order (or refused it, or found nothing).
    pending = {"known_order_id": SIZE, "problem": "size_issue", "awaiting": AWAIT_CLAIM}
    digression = conversation.answer(
        settings, _turn(intent, "衣服大了", "那这个呢", order_id=order_id, **pending)
    )
    assert _names(digression)[-1] == "utter_claim_confirm_again"
    assert _values(digression, "utter_claim_confirm_again")["order_id"] == SIZE
    slots = digression.slots
    assert (slots["order_id"], slots["problem"], slots["awaiting"]) == (
        SIZE,
        "size_issue",
        AWAIT_CLAIM,
    )
    confirm = _turn(
        "affirm",
        "衣服大了",
        "那这个呢",
        "好的",
        known_order_id=slots["order_id"],
        problem=slots["problem"],
        awaiting=slots["awaiting"],
    )
    opened = conversation.confirm_claim(settings, confirm)
    assert _names(opened)[0] == "utter_claim_opened"
    assert _values(opened, "utter_claim_opened")["claim_no"] == f"AS{SIZE}"
    assert order_claims(settings, "buyer_001", order_id).claims == []


def test_signed_return_not_refunded_asks_for_the_waybill_then_hands_over(
    settings: Settings,
) -> None:
    ask = conversation.answer(settings, _turn("refund_progress", "还没退款", order_id=SIGNED))
    assert _names(ask) == ["utter_ask_return_waybill"]  # N4 passed: 11-06 + 7 days
    assert "E6" in ask.messages[0].custom["rule_ids"]  # type: ignore[index]
    assert ask.slots["awaiting"] == AWAIT_WAYBILL
    missing = conversation.return_waybill(
        settings, _turn("affirm", "好的", known_order_id=SIGNED, awaiting=AWAIT_WAYBILL)
    )
    assert _names(missing) == ["utter_ask_return_waybill_again"] and not missing.pause
    done = conversation.return_waybill(
        settings,
        _turn("provide_order_id", "yt9876543210", known_order_id=SIGNED, awaiting=AWAIT_WAYBILL),
    )
    assert _names(done) == ["utter_return_waybill_confirmed", "utter_handoff_intervention"]
    assert _values(done, "utter_return_waybill_confirmed")["return_waybill"] == "YT9876543210"
    assert done.pause
    case = handoffs.open_handoffs(settings)[0]
    assert case.reason == "intervention" and case.summary["return_waybill"] == "YT9876543210"


def test_handoff_records_a_summary_and_pauses(settings: Settings) -> None:
    turn = _turn("request_human", "衣服大了", "转人工", known_order_id=SIZE, problem="size_issue")
    reply = conversation.hand_off(settings, turn, "request_human")
    assert reply.pause and _names(reply) == ["utter_handoff_request_human"]
    assert reply.messages[0].custom["handoff"] is True  # type: ignore[index]
    case = handoffs.open_handoffs(settings)[0]
    assert case.order_id == SIZE and case.problem == "size_issue"
    assert case.summary["buyer_said"] == ["衣服大了", "转人工"]
    assert case.summary["decision"]["route"]
    assert handoffs.is_handed_off(settings, "conv-1")


def test_fallback_offers_two_topics_then_a_person() -> None:
    ranking = (("nlu_fallback", 0.9), ("shipping_fee", 0.1), ("greet", 0.05), ("size_issue", 0.04))
    first = conversation.clarify(_turn("nlu_fallback", ranking=ranking, fallbacks=1))
    assert _names(first) == ["utter_clarify"]
    assert [b.payload for b in first.messages[0].buttons] == ["/shipping_fee", "/size_issue"]
    second = conversation.clarify(_turn("nlu_fallback", ranking=ranking, fallbacks=2))
    assert _names(second) == ["utter_offer_human"]


def test_seller_gets_the_decision_for_an_order_of_their_shop(settings: Settings) -> None:
    own = conversation.seller(
        settings, _turn("seller_handle_after_sales", who=SELLER, order_id=SIZE)
    )
    assert _names(own)[0] == "utter_seller_order" and _names(own)[-1] == "utter_seller_no_penalty"
    foreign = conversation.seller(
        settings, _turn("seller_handle_after_sales", who=SELLER, order_id=AIRCON)
    )
    assert _names(foreign) == ["utter_seller_order_not_found"]
    general = conversation.seller(settings, _turn("seller_handle_after_sales", who=SELLER))
    assert _names(general) == ["utter_seller_guidance"]


def test_every_response_the_dialogue_sends_is_in_the_domain() -> None:
    import re

    import yaml

    root = Path(__file__).resolve().parents[2]
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))
    source = (root / "bot" / "conversation.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"(utter_\w+)"', source))
    assert names and names <= set(domain["responses"])


def test_a_second_dispute_explains_w8_with_the_existing_claim(settings: Settings) -> None:
    turn = _turn("affirm", "衣服大了", known_order_id=SIZE, problem="size_issue")
    conversation.confirm_claim(settings, turn)
    reply = conversation.answer(settings, _turn("return_goods", "我要退货", order_id=SIZE))
    assert _names(reply) == ["utter_claim_exists"]
    assert _values(reply, "utter_claim_exists")["claim_no"] == f"AS{SIZE}"
    assert "W8" in reply.messages[0].custom["rule_ids"]  # type: ignore[index]
    assert "awaiting" not in reply.slots


def test_a_blank_message_is_not_a_miss() -> None:
    reply = conversation.clarify(_turn("nlu_fallback", "   ", fallbacks=0))
    assert _names(reply) == ["utter_empty_message"]


@pytest.mark.parametrize(
    ("intent", "order_id"),
    [("size_issue", SIZE), ("refund_progress", SIGNED), ("shipping_fee", None)],
)
def test_an_answer_reads_the_order_once(settings: Settings, intent: str, order_id: Any) -> None:
    """The order, its claim and the decision come from one query (was two)."""
    from sqlalchemy import event

    from bot.db.session import get_engine

    statements: List[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = get_engine(settings.db_url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        turn = _turn(intent, "运费谁出", order_id=order_id, known_order_id=SIZE)
        reply = conversation.answer(settings, turn)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert reply.messages[0].custom and reply.messages[0].custom["rule_ids"]
    order_reads = [s for s in statements if "FROM orders" in s]
    assert len(order_reads) == 1, order_reads


# -- property: claims are opened exactly as the buyer confirmed them --------------


@fuzz(60)
@given(script=scripts, data=st.data())
def test_each_confirmed_claim_is_opened_once_on_the_order_the_bot_asked_about(
    settings: Settings, script: List[List[Said]], data: st.DataObject
) -> None:
    """Conversations of one buyer, interleaved: problems and questions about
    several orders (some unknown or another buyer's), digressions, yes and no
    (repeated), as the rules of data/stories route them."""
    forget_claims(settings.db_url)
    dialogue = FakeDialogue(settings)
    turns = data.draw(st.permutations([c for c, lines in enumerate(script) for _ in lines]))
    sent = [0] * len(script)
    for c in turns:
        dialogue.run(f"c{c}", f"c{c}-m{sent[c]}", script[c][sent[c]])
        sent[c] += 1
    check_claims(dialogue.transcripts, stored_claims(settings.db_url))
