"""The after-sales rule table: its schema and its loader.

The table (``bot/policy/rules.yml`` by default) is the policy of
``shared/spec/policy.md`` as data. :func:`load_table` reads and validates it
once; the engine (:mod:`bot.policy.engine`) receives the validated
:class:`RuleTable` as an argument and never reads a file.

Texts in the table may name parameters in braces: their own rule's
(``{days}``) or any rule's (``{W6.review_working_days}``). The loader fills
them in, so a text that names a missing parameter is a load error, not a
broken answer later.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Literal, Mapping, Optional, Tuple, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.db.models import CLAIM_STATUSES, CLAIM_TYPES, ORDER_STATUSES, Category

#: The table shipped with shopbot.
DEFAULT_TABLE = Path(__file__).resolve().parent / "rules.yml"

#: Rule ids per group, as ``shared/spec/policy.md`` numbers them.
RULE_GROUPS: Dict[str, Tuple[str, ...]] = {
    "W": tuple(f"W{n}" for n in range(1, 9)),
    "F": tuple(f"F{n}" for n in range(1, 9)),
    "Q": tuple(f"Q{n}" for n in range(1, 6)),
    "E": tuple(f"E{n}" for n in range(1, 7)),
    "N": tuple(f"N{n}" for n in range(1, 10)),
}

#: Every rule id the engine relies on.
RULE_IDS: Tuple[str, ...] = tuple(rule for group in RULE_GROUPS.values() for rule in group)

#: Route codes (the engine's vocabulary).
ROUTES = (
    "no_reason_return",
    "after_sales",
    "three_guarantees",
    "counterfeit",
    "virtual_goods",
    "in_transaction",
    "statutory_repair",
    "not_accepted",
)

#: Problem kinds an intent maps to.
PROBLEM_KINDS = (
    "quality",
    "transit_damage",
    "wrong_item",
    "counterfeit",
    "virtual",
    "refund_progress",
    "size",
    "exchange",
    "change_of_mind",
    "general",
)

#: Postage situations, in the engine's words.
Situation = Literal[
    "agreed",
    "wrong_item",
    "quality_replacement",
    "quality",
    "unclear",
    "size_exchange",
    "change_of_mind",
]
SITUATIONS: Tuple[str, ...] = get_args(Situation)

#: Extra next steps the engine may add.
STEP_CODES = (
    "reopen_entry",
    "seller_service",
    "ask_intervention",
    "intervention_with_waybill",
    "negotiate_waybill",
    "wait_refund",
    "refuse_damaged",
    "take_photos",
    "no_postage_due",
    "get_penalty_decision",
)

#: Reason codes a decision may carry.
REASON_CODES = (
    "window_open",
    "window_closed",
    "in_transaction",
    "no_deadline",
    "not_paid",
    "order_closed",
    "not_quality",
    "not_returnable",
    "goods_not_intact",
    "photos_required",
    "returned_without_contact",
    "buyer_damage",
    "dispute_used",
    "seller_service_only",
    "statutory_repair",
    "refund_due",
    "refund_overdue",
)

#: Postage payer codes.
PAYERS = ("seller", "buyer", "agreed", "dispute")
#: Postage leg codes.
LEGS = ("outbound", "return", "resend")

Payer = Literal["seller", "buyer", "agreed", "dispute"]
Leg = Literal["outbound", "return", "resend"]


class PolicyTableError(ValueError):
    """The rule table is missing, malformed or incomplete."""


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Item):
    """A rule with its text (and its legal source, for the floors)."""

    text: str
    source: Optional[str] = None


class Window(Rule):
    """A W rule: a window of ``days`` days (if it has one)."""

    days: Optional[int] = Field(default=None, ge=0, le=3650)
    categories: Tuple[Category, ...] = ()
    review_working_days: Optional[int] = Field(default=None, ge=0, le=60)
    max_disputes: Optional[int] = Field(default=None, ge=1)


class PostageRow(Rule):
    """An F row: in ``situation`` the ``legs`` are paid by these payers."""

    id: str
    situation: Situation
    legs: Dict[Leg, Payer]
    evidence: Tuple[str, ...] = ()


class QualityRule(Rule):
    """A Q rule: complaint codes that are not quality problems, or categories."""

    not_quality: Tuple[str, ...] = ()
    categories: Tuple[Category, ...] = ()


class EvidenceRule(Rule):
    """An E rule: the evidence items of a claim type."""

    items: Tuple[str, ...] = Field(min_length=1)
    any_of: bool = False


class Floor(Rule):
    """An N rule: a floor of law or platform rules."""

    days: Optional[int] = Field(default=None, ge=0, le=3650)
    always_excluded: Tuple[Category, ...] = ()
    excluded_when_marked: Tuple[Category, ...] = ()


class Formats(_Item):
    """How answers write dates, money, lists, steps and postage legs.

    Attributes:
        date: A date, with ``{year}``, ``{month}`` and ``{day}``.
        money: An amount, with ``{amount}`` (two decimals).
        list_separator: Between list items (evidence).
        step_separator: Between next steps.
        postage_leg: One leg, with ``{leg}`` and ``{payer}``.
    """

    date: str
    money: str
    list_separator: str
    step_separator: str
    postage_leg: str


class Route(_Item):
    """A route's display name, whether it opens a claim, and where to click."""

    name: str
    opens_claim: bool
    steps: Tuple[str, ...] = Field(min_length=1)


class RuleTable(_Item):
    """The whole validated rule table.

    Attributes:
        windows: W1–W8.
        postage: The F payer rows in the order they are checked.
        postage_due: F8.
        quality: Q1–Q5.
        evidence: E1–E6.
        floors: N1–N9.
        routes: Every route code's texts.
        steps: Extra next steps by code.
        reasons: Reason texts by code.
        payers: Payer names by code.
        legs: Postage leg names by code.
        problems: Intent name → problem kind.
        formats: How answers write dates, money and lists.
        statuses: Order status code → what the buyer reads.
        claim_statuses: Claim status code → what the buyer reads.
        parties: Who acts next on a claim (``seller``, ``buyer``) → name.
    """

    windows: Dict[str, Window]
    postage: Tuple[PostageRow, ...]
    postage_due: Dict[str, Rule]
    quality: Dict[str, QualityRule]
    evidence: Dict[str, EvidenceRule]
    floors: Dict[str, Floor]
    routes: Dict[str, Route]
    steps: Dict[str, str]
    reasons: Dict[str, str]
    payers: Dict[str, str]
    legs: Dict[str, str]
    problems: Dict[str, str]
    formats: Formats
    statuses: Dict[str, str]
    claim_statuses: Dict[str, str]
    parties: Dict[str, str]

    @model_validator(mode="after")
    def _complete(self) -> RuleTable:
        """Check that every rule id, route, code and claim intent is present."""
        ids = self.rule_ids()
        missing = [rule for rule in RULE_IDS if rule not in ids]
        unknown = sorted(ids - set(RULE_IDS))
        problems: List[str] = []
        if missing:
            problems.append(f"missing rule ids {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown rule ids {', '.join(unknown)}")
        postage_ids = [row.id for row in self.postage]
        if len(postage_ids) != len(set(postage_ids)):
            problems.append("a postage row id appears twice")
        situations = {row.situation for row in self.postage}
        lacking = [s for s in SITUATIONS if s not in situations]
        if lacking:
            problems.append(f"postage rows lack the situations {', '.join(lacking)}")
        for label, have, want in (
            ("routes", self.routes, ROUTES),
            ("steps", self.steps, STEP_CODES),
            ("reasons", self.reasons, REASON_CODES),
            ("payers", self.payers, PAYERS),
            ("legs", self.legs, LEGS),
            ("statuses", self.statuses, ORDER_STATUSES),
            ("claim_statuses", self.claim_statuses, CLAIM_STATUSES),
            ("parties", self.parties, ("seller", "buyer")),
        ):
            absent = [code for code in want if code not in have]
            extra = sorted(set(have) - set(want))
            if absent:
                problems.append(f"{label} lack {', '.join(absent)}")
            if extra:
                problems.append(f"{label} has unknown codes {', '.join(extra)}")
        for intent in CLAIM_TYPES:
            if intent not in self.problems:
                problems.append(f"problems lack the claim intent {intent}")
        for intent, kind in self.problems.items():
            if kind not in PROBLEM_KINDS:
                problems.append(f"problems.{intent}: unknown kind {kind!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def rule_ids(self) -> set[str]:
        """Return every rule id the table defines."""
        ids = set(self.windows) | set(self.postage_due) | set(self.quality)
        ids |= set(self.evidence) | set(self.floors)
        ids |= {row.id for row in self.postage}
        return ids

    def rule(self, rule_id: str) -> Rule:
        """Return the rule ``rule_id`` of any group.

        Raises:
            KeyError: No such rule.
        """
        for group in (self.windows, self.postage_due, self.quality, self.evidence, self.floors):
            if rule_id in group:
                found: Rule = group[rule_id]
                return found
        for row in self.postage:
            if row.id == rule_id:
                return row
        raise KeyError(rule_id)


def _fill(text: str, own: Mapping[str, Any], rules: Mapping[str, Any], where: str) -> str:
    """Return ``text`` with its ``{...}`` parameters filled in."""
    names = [name for _, name, _, _ in string.Formatter().parse(text) if name]
    if not names:
        return text
    try:
        return text.format_map({**rules, **own})
    except (KeyError, AttributeError, IndexError, ValueError) as exc:
        raise PolicyTableError(f"{where}: cannot fill in {text!r}: {exc}") from exc


def _render(raw: Dict[str, Any]) -> Dict[str, Any]:
    """Fill in the parameters of every text of the raw table."""
    groups = ("windows", "postage_due", "quality", "evidence", "floors")
    by_id: Dict[str, Any] = {}
    for group in groups:
        for rule_id, body in (raw.get(group) or {}).items():
            if isinstance(body, dict):
                by_id[str(rule_id)] = _Namespace(body)
    for row in raw.get("postage") or []:
        if isinstance(row, dict) and "id" in row:
            by_id[str(row["id"])] = _Namespace(row)
    for group in groups:
        for rule_id, body in (raw.get(group) or {}).items():
            if isinstance(body, dict) and isinstance(body.get("text"), str):
                body["text"] = _fill(body["text"], body, by_id, f"{group}.{rule_id}.text")
    for index, row in enumerate(raw.get("postage") or []):
        if isinstance(row, dict) and isinstance(row.get("text"), str):
            row["text"] = _fill(row["text"], row, by_id, f"postage[{index}].text")
    steps = raw.get("steps") or {}
    for code, text in steps.items():
        if isinstance(text, str):
            steps[code] = _fill(text, {}, by_id, f"steps.{code}")
    return raw


class _Namespace:
    """Attribute access to a raw rule's parameters, for ``{W6.days}``."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


def parse_table(text: str, source: str = "<table>") -> RuleTable:
    """Parse and validate a rule table.

    Args:
        text: The YAML document.
        source: Its file name, for errors.

    Returns:
        The validated table, texts filled in.

    Raises:
        PolicyTableError: The document is not a valid, complete table.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyTableError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyTableError(f"{source}: must be a mapping")
    try:
        return RuleTable.model_validate(_render(raw))
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'table'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise PolicyTableError(f"{source}: {details}") from exc
    except PolicyTableError as exc:
        raise PolicyTableError(f"{source}: {exc}") from exc


def load_table(path: Optional[Path] = None) -> RuleTable:
    """Read and validate the rule table file.

    Args:
        path: The table; :data:`DEFAULT_TABLE` when omitted.

    Returns:
        The validated table.

    Raises:
        PolicyTableError: The file cannot be read or is not a valid table.
    """
    target = path or DEFAULT_TABLE
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyTableError(f"{target}: cannot read the rule table: {exc}") from exc
    return parse_table(text, str(target))


@lru_cache(maxsize=4)
def cached_table(path: Optional[Path] = None) -> RuleTable:
    """Return the table of ``path``, loaded once per process (first call reads it)."""
    return load_table(path)


__all__ = [
    "DEFAULT_TABLE",
    "LEGS",
    "PAYERS",
    "PROBLEM_KINDS",
    "REASON_CODES",
    "ROUTES",
    "RULE_GROUPS",
    "RULE_IDS",
    "SITUATIONS",
    "STEP_CODES",
    "EvidenceRule",
    "Floor",
    "PolicyTableError",
    "PostageRow",
    "QualityRule",
    "Route",
    "Rule",
    "RuleTable",
    "Window",
    "cached_table",
    "load_table",
    "parse_table",
]
