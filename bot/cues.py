"""What the buyer's words say about their case: :class:`BuyerFacts` from text.

The words live in ``bot/policy/cues.yml`` (a shop tunes them); this module
validates them once and reads a conversation's texts with them. It is pure:
texts in, facts out.
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Tuple

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from bot.policy.engine import BuyerFacts
from bot.policy.table import RuleTable

#: The cue words shipped with shopbot.
DEFAULT_CUES = Path(__file__).resolve().parent / "policy" / "cues.yml"

#: How far before a cue word a negation still negates it (characters).
NEGATION_REACH = 3

#: Punctuation that ends a clause: a negation does not reach across it.
_CLAUSE_BREAK = re.compile(r"[，,。.！!？?；;、\s]")

Fact = Literal[
    "quality_problem",
    "no_photos",
    "has_photos",
    "photos_confirm_quality",
    "goods_not_intact",
    "goods_intact",
    "returned_without_contact",
    "buyer_damaged",
    "postage_due",
    "seller_agreed_postage_due",
    "penalty_decision",
    "seller_refused",
    "wants_replacement",
    "agreed_before_platform",
    "unclear_fault",
]

#: Facts whose cue sets a BuyerFacts field of the same name to True.
_SAME_NAME = frozenset(f.name for f in fields(BuyerFacts))


class CuesError(ValueError):
    """The cue file is missing or malformed."""


class Cues(BaseModel):
    """The validated cue words.

    Attributes:
        negations: Words that cancel a cue right after them.
        complaints: Complaint code (Q1/Q2 of the rule table) → words.
        facts: Fact → words.
        agreed_payer: Payer code (F6) → words.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    negations: Tuple[str, ...]
    complaints: Dict[str, Tuple[str, ...]]
    facts: Dict[Fact, Tuple[str, ...]]
    agreed_payer: Dict[Literal["seller", "buyer"], Tuple[str, ...]]

    @model_validator(mode="after")
    def _no_empty_words(self) -> Cues:
        groups = [*self.complaints.values(), *self.facts.values(), *self.agreed_payer.values()]
        if any(not word.strip() for group in groups for word in group):
            raise ValueError("a cue word is empty")
        return self

    def check_against(self, table: RuleTable) -> None:
        """Raise :class:`CuesError` when a complaint code is not one of the table's."""
        known = {code for rule in table.quality.values() for code in rule.not_quality}
        unknown = sorted(set(self.complaints) - known)
        if unknown:
            raise CuesError(f"complaint codes not in the rule table: {', '.join(unknown)}")


def load_cues(path: Optional[Path] = None) -> Cues:
    """Read and validate the cue file (:data:`DEFAULT_CUES` when omitted).

    Raises:
        CuesError: The file cannot be read or is not valid.
    """
    target = path or DEFAULT_CUES
    try:
        return Cues.model_validate(yaml.safe_load(target.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise CuesError(f"{target}: {exc}") from exc


@lru_cache(maxsize=4)
def cached_cues(path: Optional[Path] = None) -> Cues:
    """Return the cues of ``path``, loaded once per process."""
    return load_cues(path)


def _said(text: str, word: str, negations: Tuple[str, ...]) -> bool:
    """Whether ``word`` occurs in ``text`` at least once without a negation before it."""
    start = text.find(word)
    while start >= 0:
        before = _CLAUSE_BREAK.split(text[max(0, start - NEGATION_REACH - 1) : start])[-1]
        if not any(negation in before for negation in negations if negation not in word):
            return True
        start = text.find(word, start + 1)
    return False


def _first(
    text: str, groups: Mapping[Any, Tuple[str, ...]], negations: Tuple[str, ...]
) -> List[str]:
    return [
        str(key) for key, words in groups.items() if any(_said(text, w, negations) for w in words)
    ]


def read_facts(cues: Cues, texts: Iterable[str]) -> BuyerFacts:
    """Return what the buyer's texts say, the latest text winning.

    Args:
        cues: The validated cue words.
        texts: The buyer's messages, oldest first.

    Returns:
        The facts; a fact nothing mentions stays "not said".
    """
    facts = BuyerFacts()
    for text in texts:
        if not text:
            continue
        complaint = _first(text, cues.complaints, cues.negations)
        if complaint:
            facts = replace(facts, complaint=complaint[0])
        said = set(_first(text, cues.facts, cues.negations))
        changes: Dict[str, object] = {
            name: True for name in said if name in _SAME_NAME and name != "has_photos"
        }
        if "has_photos" in said:
            changes["has_photos"] = True
        if "no_photos" in said:
            changes["has_photos"] = False
        if "goods_not_intact" in said:
            changes["goods_intact"] = False
        elif "goods_intact" in said:
            changes["goods_intact"] = True
        payer = _first(text, cues.agreed_payer, cues.negations)
        if payer:
            changes["agreed_payer"] = payer[0]
        facts = replace(facts, **changes)  # type: ignore[arg-type]
    return facts


__all__ = ["Cues", "CuesError", "cached_cues", "load_cues", "read_facts"]
