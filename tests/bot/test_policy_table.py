"""Tests of bot/policy/table.py: the shipped rule table and its loader."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, get_args

import pytest
import yaml

from bot.db.models import CATEGORIES, CLAIM_TYPES
from bot.policy.table import (
    DEFAULT_TABLE,
    RULE_IDS,
    Category,
    PolicyTableError,
    RuleTable,
    load_table,
    parse_table,
)
from tests.bot.subprocess_helpers import REPO, run_python

#: The contract, beside every checkout (``../shared``).
POLICY_MD = REPO.parent / "shared" / "spec" / "policy.md"
_ROW = re.compile(r"^\|\s*([WFQEN][0-9]+)\s*\|(.*)\|\s*$")


def _policy_rows() -> Dict[str, str]:
    """Return ``{rule id: the rest of its table row}`` from policy.md."""
    if not POLICY_MD.is_file():
        pytest.skip(f"{POLICY_MD} is not beside this checkout")
    rows: Dict[str, str] = {}
    for line in POLICY_MD.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line.strip())
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def _raw() -> dict[str, object]:
    data = yaml.safe_load(DEFAULT_TABLE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_table_holds_exactly_the_rule_ids_of_policy_md() -> None:
    assert sorted(load_table().rule_ids()) == sorted(_policy_rows())


def test_the_table_holds_exactly_the_engines_rule_ids() -> None:
    assert sorted(load_table().rule_ids()) == sorted(RULE_IDS)


def test_window_numbers_match_policy_md() -> None:
    rows = _policy_rows()
    table = load_table()
    for rule_id, window in table.windows.items():
        number = rows[rule_id].rsplit("|", 1)[-1].strip()
        if number.isdigit() and rule_id != "W8":
            assert window.days == int(number), rule_id
    assert table.windows["W8"].max_disputes == int(rows["W8"].rsplit("|", 1)[-1])


def test_every_claim_intent_has_a_problem_kind() -> None:
    assert set(CLAIM_TYPES) <= set(load_table().problems)


def test_texts_have_their_parameters_filled_in() -> None:
    table = load_table()
    assert table.windows["W1"].text.startswith("一般商品交易成功后15天内")
    assert "2个工作日" in table.steps["reopen_entry"]
    assert "{" not in yaml.safe_dump(table.model_dump(exclude={"formats"}), allow_unicode=True)
    assert table.formats.date == "{year}年{month}月{day}日"  # formats stay templates


def _broken(mutate: object) -> str:
    raw = _raw()
    assert callable(mutate)
    mutate(raw)
    return yaml.safe_dump(raw, allow_unicode=True)


def test_a_missing_rule_is_named() -> None:
    text = _broken(lambda raw: raw["floors"].pop("N7"))
    with pytest.raises(PolicyTableError, match="missing rule ids N7"):
        parse_table(text)


def test_a_negative_window_is_refused() -> None:
    text = _broken(lambda raw: raw["windows"]["W1"].update(days=-1))
    with pytest.raises(PolicyTableError, match=r"windows\.W1\.days"):
        parse_table(text)


def test_an_unknown_category_is_refused() -> None:
    text = _broken(lambda raw: raw["windows"]["W2"].update(categories=["furniture"]))
    with pytest.raises(PolicyTableError, match="W2"):
        parse_table(text)


def test_a_text_naming_a_missing_parameter_is_refused() -> None:
    text = _broken(lambda raw: raw["steps"].update(reopen_entry="{W6.nothing}天"))
    with pytest.raises(PolicyTableError, match=r"steps\.reopen_entry"):
        parse_table(text)


def test_a_postage_situation_without_a_row_is_refused() -> None:
    text = _broken(lambda raw: raw.update(postage=raw["postage"][1:]))
    with pytest.raises(PolicyTableError):
        parse_table(text)


def test_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyTableError, match="cannot read"):
        load_table(tmp_path / "absent.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("windows: [", encoding="utf-8")
    with pytest.raises(PolicyTableError, match="not valid YAML"):
        load_table(bad)


def test_a_copy_of_the_table_loads_from_its_own_path(tmp_path: Path) -> None:
    copy = tmp_path / "rules.yml"
    copy.write_text(_broken(lambda raw: raw["windows"]["W1"].update(days=30)), "utf-8")
    table: RuleTable = load_table(copy)
    assert table.windows["W1"].days == 30


def test_importing_the_policy_package_reads_no_file() -> None:
    code = (
        "import pathlib\n"
        "opened = []\n"
        "real = pathlib.Path.read_text\n"
        "def spy(self, *a, **k):\n"
        "    opened.append(self)\n"
        "    return real(self, *a, **k)\n"
        "pathlib.Path.read_text = spy\n"
        "import bot.policy, bot.policy.table, bot.policy.engine\n"
        "assert not [p for p in opened if p.name == 'rules.yml'], opened\n"
    )
    result = run_python(["-c", code])
    assert result.returncode == 0, result.stderr


def test_the_categories_are_exactly_those_of_the_order_format() -> None:
    # One Literal serves the rule table and the orders' CHECK list; it follows orders.md.
    spec = (POLICY_MD.parent / "orders.md").read_text(encoding="utf-8")
    listed = re.search(r"category: \w+ +# ([\w |]+)", spec)
    assert listed is not None
    assert get_args(Category) == CATEGORIES == tuple(listed.group(1).split(" | "))
