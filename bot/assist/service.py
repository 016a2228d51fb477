"""The assistant's use cases: suggest replies, record feedback, read a transcript.

:class:`Assistant` ties the read-only Rasa client, the order database (through
:mod:`bot.services`: every look-up scoped by the buyer, a foreign order
answered like a missing one) and the pure :func:`bot.assist.suggest.suggest`.
It never opens a claim and never writes to the buyer's conversation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Dict, List, Optional, Tuple

from starlette.concurrency import run_in_threadpool

from bot.assist import feedback
from bot.assist.api import (
    FeedbackRequest,
    FiguresOut,
    OrderOut,
    SuggestionOut,
    SuggestRequest,
    SuggestResponse,
    TranscriptLineOut,
    TranscriptOut,
)
from bot.assist.rasa import RasaClient
from bot.assist.suggest import IntentScore, Parse, candidate_intents, parse_result, suggest
from bot.assist.templates import Templates
from bot.messages import clip_message
from bot.orders import OrderView
from bot.policy.engine import Decision
from bot.services import decide_for_order, lookup_order, policy_table
from bot.settings import SHOP_TZ, Settings


def _time(value: Optional[datetime]) -> Optional[str]:
    return value.astimezone(SHOP_TZ).isoformat() if value is not None else None


def order_out(order: OrderView) -> OrderOut:
    """Return the order as the API shows it (price as text, China times)."""
    return OrderOut(
        order_id=order.order_id,
        shop_name=order.shop_name,
        product=order.product,
        category=order.category,
        status=order.status,
        quantity=order.quantity,
        price=str(order.price),
        no_reason_return=order.no_reason_return,
        free_shipping=order.free_shipping,
        paid_at=_time(order.paid_at),
        shipped_at=_time(order.shipped_at),
        delivered_at=_time(order.delivered_at),
        completed_at=_time(order.completed_at),
        courier=order.courier,
        tracking_no=order.tracking_no,
        usage_term_days=order.usage_term_days,
    )


def ground(
    settings: Settings,
    buyer_id: str,
    raw_order_id: Optional[str],
    intents: Tuple[IntentScore, ...],
) -> Tuple[Optional[OrderView], Dict[str, Decision]]:
    """Find the buyer's order and decide each after-sales intent about it.

    Without an order id, a buyer with exactly one order gets that one. An id
    that is not this buyer's order gives no order and no decision.

    Returns:
        The order (or None) and the decisions by intent name.
    """
    if raw_order_id is None or not raw_order_id.strip():
        single = lookup_order(settings, buyer_id, None)
        if single.order is None:
            return None, {}
        raw_order_id = single.order.order_id
    problems = policy_table(settings).problems
    order: Optional[OrderView] = None
    decisions: Dict[str, Decision] = {}
    for intent in intents:
        if intent.name not in problems:
            continue
        result = decide_for_order(settings, buyer_id, raw_order_id, intent.name)
        if result.order is None or result.decision is None:
            return None, {}
        order = result.order
        decisions[intent.name] = result.decision
    if order is None:
        order = lookup_order(settings, buyer_id, raw_order_id).order
    return order, decisions


@dataclass
class Assistant:
    """The agent assistant of one process.

    Attributes:
        settings: Process settings (database, rule table, today).
        rasa: The read-only Rasa client.
        templates: The reply templates.
    """

    settings: Settings
    rasa: RasaClient
    templates: Templates

    async def suggest(self, request: SuggestRequest) -> SuggestResponse:
        """Suggest up to 3 replies to the buyer's message, with order and decision.

        Raises:
            bot.assist.rasa.RasaUnavailableError: NLU did not answer.
        """
        text = clip_message(request.message).strip()
        parse = parse_result(await self.rasa.parse(text)) if text else Parse((), {})
        intents = candidate_intents(parse, self.templates)
        raw_order_id = request.order_id or parse.entities.get("order_id")
        order, decisions = await run_in_threadpool(
            ground, self.settings, request.buyer_id, raw_order_id, intents
        )
        table = policy_table(self.settings)
        suggestions = suggest(parse, order, decisions, table, self.templates)
        first_grounded = next((s.intent for s in suggestions if s.intent in decisions), None)
        decision = decisions.get(first_grounded or "") or next(iter(decisions.values()), None)
        top = parse.top
        return SuggestResponse(
            request_id=uuid.uuid4().hex,
            intent=top.name if top else None,
            suggestions=[
                SuggestionOut(
                    text=s.text,
                    intent=s.intent,
                    confidence=round(s.confidence, 4),
                    rule_ids=list(s.rule_ids),
                )
                for s in suggestions
            ],
            order=order_out(order) if order is not None else None,
            decision=decision.to_json() if decision is not None else None,
        )

    async def record(self, request: FeedbackRequest) -> None:
        """Store one feedback event."""
        event = feedback.FeedbackEvent(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            event=request.event,
            rank=request.rank,
            count=request.count,
            intent=request.intent,
        )
        await run_in_threadpool(feedback.record, self.settings, event)

    async def figures(self) -> FiguresOut:
        """Return coverage and acceptance over every recorded event."""
        found = await run_in_threadpool(feedback.figures, self.settings)
        return FiguresOut(
            shown=found.shown,
            with_suggestions=found.with_suggestions,
            accepted=found.accepted,
            edited=found.edited,
            ignored=found.ignored,
            coverage=found.coverage,
            acceptance=found.acceptance,
            edit_rate=found.edit_rate,
            clicked_by_rank={str(rank): n for rank, n in found.clicked_by_rank.items()},
        )

    async def transcript(self, conversation_id: str) -> TranscriptOut:
        """Return the conversation's messages from Rasa's tracker (read-only).

        Raises:
            bot.assist.rasa.RasaUnavailableError: Rasa did not answer.
        """
        lines: List[TranscriptLineOut] = [
            TranscriptLineOut(role=line.role, text=line.text, at=line.at, intent=line.intent)
            for line in await self.rasa.transcript(conversation_id)
        ]
        return TranscriptOut(conversation_id=conversation_id, lines=lines)
