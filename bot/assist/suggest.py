"""Suggested replies: a pure function from what is known to ranked texts.

:func:`suggest` takes the NLU parse of the buyer's message
(:func:`parse_result` reads Rasa's ``/model/parse`` answer), the buyer's order
(or None), the rule engine's decision for each after-sales intent, the rule
table and the templates, and returns up to three replies, best first. Every
text comes from the templates, filled with the order's facts and the
decision's dates, payers, evidence and steps; each reply carries its intent,
the NLU confidence and the rule ids it rests on. No I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from bot.assist.templates import Template, Templates, placeholders
from bot.orders import OrderView
from bot.policy.engine import Decision
from bot.policy.table import RuleTable
from bot.replies import decision_values, order_values

#: Most suggestions returned.
MAX_SUGGESTIONS = 3
#: How many intents of the NLU ranking are considered.
MAX_INTENTS = 3


@dataclass(frozen=True)
class IntentScore:
    """One intent of the NLU ranking."""

    name: str
    confidence: float


@dataclass(frozen=True)
class Parse:
    """What NLU made of the buyer's message.

    Attributes:
        intents: The ranking, most confident first (may be empty).
        entities: The first value of each entity found.
    """

    intents: Tuple[IntentScore, ...]
    entities: Mapping[str, str]

    @property
    def top(self) -> Optional[IntentScore]:
        """The most confident intent, if any."""
        return self.intents[0] if self.intents else None


@dataclass(frozen=True)
class Suggestion:
    """One suggested reply.

    Attributes:
        text: What the agent may send.
        intent: The intent it answers.
        confidence: NLU's confidence in that intent (0 to 1).
        rule_ids: The rule ids it rests on, in the order they applied.
    """

    text: str
    intent: str
    confidence: float
    rule_ids: Tuple[str, ...]


def _confidence(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return min(1.0, max(0.0, float(value)))


def parse_result(raw: Mapping[str, Any]) -> Parse:
    """Read Rasa's ``/model/parse`` answer, tolerating missing parts.

    Args:
        raw: The JSON answer (``intent``, ``intent_ranking``, ``entities``).

    Returns:
        The ranking (from ``intent_ranking``, else ``intent``), sorted by
        confidence, and the entities' first values.
    """
    ranking = raw.get("intent_ranking")
    if not isinstance(ranking, list) or not ranking:
        ranking = [raw.get("intent")]
    scores: Dict[str, float] = {}
    for item in ranking:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"]:
            name = item["name"]
            scores[name] = max(scores.get(name, 0.0), _confidence(item.get("confidence")))
    intents = tuple(
        IntentScore(name, confidence)
        for name, confidence in sorted(scores.items(), key=lambda pair: -pair[1])
    )
    entities: Dict[str, str] = {}
    for entity in raw.get("entities") or []:
        if not isinstance(entity, Mapping):
            continue
        name, value = entity.get("entity"), entity.get("value")
        if isinstance(name, str) and isinstance(value, (str, int)) and name not in entities:
            entities[name] = str(value)
    return Parse(intents, entities)


def _conditions(order: Optional[OrderView], decision: Optional[Decision]) -> Dict[str, bool]:
    eligible = decision is not None and decision.eligible
    return {
        "order": order is not None,
        "no_order": order is None,
        "eligible": eligible,
        "not_eligible": decision is not None and not decision.eligible,
        "can_open_claim": decision is not None and decision.can_open_claim,
        "has_evidence": decision is not None and bool(decision.evidence),
        "has_deadline": decision is not None and decision.window_end is not None,
        "no_deadline": decision is not None and decision.window_end is None,
    }


def _rule_ids(template: Template, decision: Optional[Decision]) -> Tuple[str, ...]:
    ids: List[str] = []
    if decision is not None:
        ids.extend(decision.rules)
        if decision.evidence_rule:
            ids.append(decision.evidence_rule)
    ids.extend(template.rules)
    return tuple(dict.fromkeys(ids))


def _render(
    table: RuleTable,
    templates: Templates,
    intent: IntentScore,
    order: Optional[OrderView],
    decision: Optional[Decision],
    after_sales: bool,
) -> List[Suggestion]:
    """Return every applicable template of ``intent``, filled in, best first."""
    values: Dict[str, Any] = {}
    if order is not None:
        values.update(order_values(table, order))
    if decision is not None:
        values.update(decision_values(table, decision))
    conditions = _conditions(order, decision)
    rendered = []
    for template in templates.for_intent(intent.name, after_sales):
        if not all(conditions[name] for name in template.when):
            continue
        if any(values.get(name) is None for name in placeholders(template.text)):
            continue
        text = template.text.format_map(values)
        rendered.append(
            Suggestion(text, intent.name, intent.confidence, _rule_ids(template, decision))
        )
    return rendered


def candidate_intents(parse: Parse, templates: Templates) -> Tuple[IntentScore, ...]:
    """Return the intents to answer: the top one, then others sure enough."""
    top = parse.top
    if top is None:
        return ()
    others = tuple(
        intent
        for intent in parse.intents[1:MAX_INTENTS]
        if intent.confidence >= templates.min_confidence
    )
    return (top, *others)


def suggest(
    parse: Parse,
    order: Optional[OrderView],
    decisions: Mapping[str, Decision],
    table: RuleTable,
    templates: Templates,
) -> List[Suggestion]:
    """Rank up to :data:`MAX_SUGGESTIONS` replies to the buyer's message.

    The best reply answers the most confident intent; then come the first
    reply of each other intent NLU found likely (a second reading of the
    message), then further replies of the top intent, then the rest. The
    same text is never offered twice.

    Args:
        parse: The NLU parse.
        order: The buyer's order the message is about, if known.
        decisions: The rule engine's decision for each after-sales intent of
            the candidates (by intent name), for ``order``.
        table: The rule table (which intents are after-sales problems).
        templates: The reply templates.

    Returns:
        The suggestions, best first (empty when no template applies).
    """
    per_intent: List[Sequence[Suggestion]] = [
        _render(
            table,
            templates,
            intent,
            order,
            decisions.get(intent.name),
            intent.name in table.problems,
        )
        for intent in candidate_intents(parse, templates)
    ]
    ordered: List[Suggestion] = []
    if per_intent:
        ordered.extend(per_intent[0][:1])
        ordered.extend(first for rendered in per_intent[1:] for first in rendered[:1])
        ordered.extend(per_intent[0][1:])
        ordered.extend(rest for rendered in per_intent[1:] for rest in rendered[1:])
    unique: Dict[str, Suggestion] = {}
    for suggestion in ordered:
        unique.setdefault(suggestion.text, suggestion)
    return list(unique.values())[:MAX_SUGGESTIONS]
