"""Tests of bot/assist/templates.py: the suggestion templates and their checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.assist.templates import (
    CONDITIONS,
    DEFAULT_TEMPLATES,
    FIELDS,
    TemplateError,
    load_templates,
    placeholders,
)
from bot.policy.table import load_table


def _write(tmp_path: Path, change: dict[str, object]) -> Path:
    raw = yaml.safe_load(DEFAULT_TEMPLATES.read_text(encoding="utf-8"))
    raw.update(change)
    path = tmp_path / "templates.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_templates_load_and_use_known_names_only() -> None:
    templates = load_templates()
    every = [*templates.after_sales, *(t for ts in templates.intents.values() for t in ts)]
    assert every
    for template in every:
        assert set(placeholders(template.text)) <= set(FIELDS)
        assert set(template.when) <= set(CONDITIONS)


def test_template_rule_ids_exist_in_the_rule_table() -> None:
    ids = load_table().rule_ids()
    templates = load_templates()
    for template in [*templates.after_sales, *(t for ts in templates.intents.values() for t in ts)]:
        assert set(template.rules) <= ids


def test_an_unknown_placeholder_is_a_load_error(tmp_path: Path) -> None:
    path = _write(tmp_path, {"intents": {"greet": [{"text": "亲 {nickname}"}]}})
    with pytest.raises(TemplateError, match="unknown placeholders nickname"):
        load_templates(path)


def test_an_unknown_condition_is_a_load_error(tmp_path: Path) -> None:
    path = _write(tmp_path, {"intents": {"greet": [{"text": "亲", "when": ["vip"]}]}})
    with pytest.raises(TemplateError, match="unknown conditions vip"):
        load_templates(path)


def test_a_malformed_placeholder_is_a_load_error(tmp_path: Path) -> None:
    path = _write(tmp_path, {"intents": {"greet": [{"text": "亲 {order_id"}]}})
    with pytest.raises(TemplateError, match="malformed placeholder"):
        load_templates(path)


def test_a_missing_file_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read"):
        load_templates(tmp_path / "nope.yml")


def test_an_intent_of_its_own_overrides_the_after_sales_default() -> None:
    templates = load_templates()
    assert templates.for_intent("size_issue", True) == templates.intents["size_issue"]
    assert templates.for_intent("wrong_item", True) == templates.after_sales
    assert templates.for_intent("wrong_item", False) == ()
