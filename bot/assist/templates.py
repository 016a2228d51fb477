"""The suggestion templates: their schema and loader.

The texts live in ``bot/assist/templates.yml`` (Chinese, edited by the
shop); this module validates them once, so a template that names an unknown
placeholder or condition is a load error, not a broken suggestion later.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

#: The templates shipped with shopbot.
DEFAULT_TEMPLATES = Path(__file__).resolve().parent / "templates.yml"

#: Placeholders a template may use.
FIELDS = (
    "order_id",
    "product",
    "shop_name",
    "status_name",
    "courier",
    "tracking_no",
    "route_name",
    "reason_text",
    "window_end",
    "days_left",
    "postage",
    "return_payer",
    "evidence",
    "steps",
    "first_step",
)

#: Conditions a template may require (all of its ``when`` must hold).
CONDITIONS = (
    "order",
    "no_order",
    "eligible",
    "not_eligible",
    "can_open_claim",
    "has_evidence",
    "has_deadline",
    "no_deadline",
)


class TemplateError(ValueError):
    """The template file is missing, malformed or names unknown fields."""


def placeholders(text: str) -> Tuple[str, ...]:
    """Return the ``{name}`` placeholders of ``text`` in order."""
    return tuple(name for _, name, _, _ in string.Formatter().parse(text) if name)


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Template(_Item):
    """One suggested reply: its text, when it applies, the rules it states."""

    text: str = Field(min_length=1)
    when: Tuple[str, ...] = ()
    rules: Tuple[str, ...] = ()

    @field_validator("text")
    @classmethod
    def _known_fields(cls, text: str) -> str:
        try:
            names = placeholders(text)
        except ValueError as exc:
            raise ValueError(f"malformed placeholder in {text!r}: {exc}") from None
        unknown = [name for name in names if name not in FIELDS]
        if unknown:
            raise ValueError(f"unknown placeholders {', '.join(unknown)} in {text!r}")
        return text

    @field_validator("when")
    @classmethod
    def _known_conditions(cls, when: Tuple[str, ...]) -> Tuple[str, ...]:
        unknown = [name for name in when if name not in CONDITIONS]
        if unknown:
            raise ValueError(f"unknown conditions {', '.join(unknown)}")
        return when


class Templates(_Item):
    """The whole validated template file.

    Attributes:
        min_confidence: Intents of the NLU ranking below the top one are
            offered only from this confidence on.
        after_sales: Templates of rule-table intents without their own entry.
        intents: Templates by intent name, best first.
    """

    min_confidence: float = Field(ge=0, le=1)
    after_sales: Tuple[Template, ...]
    intents: Dict[str, Tuple[Template, ...]]

    def for_intent(self, intent: str, after_sales: bool) -> Tuple[Template, ...]:
        """Return the templates of ``intent``, best first.

        Args:
            intent: The intent name.
            after_sales: Whether the rule table maps the intent to a problem.
        """
        own = self.intents.get(intent)
        if own is not None:
            return own
        return self.after_sales if after_sales else ()


def load_templates(path: Optional[Path] = None) -> Templates:
    """Read and validate the template file.

    Args:
        path: The file; :data:`DEFAULT_TEMPLATES` when omitted.

    Raises:
        TemplateError: The file cannot be read or is not valid.
    """
    target = path or DEFAULT_TEMPLATES
    try:
        raw = yaml.safe_load(target.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{target}: cannot read the templates: {exc}") from exc
    try:
        return Templates.model_validate(raw)
    except ValidationError as exc:
        details: List[str] = [
            f"{'.'.join(str(part) for part in error['loc']) or 'file'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        raise TemplateError(f"{target}: {'; '.join(details)}") from exc


@lru_cache(maxsize=4)
def cached_templates(path: Optional[Path] = None) -> Templates:
    """Return the templates of ``path``, loaded once per process."""
    return load_templates(path)
