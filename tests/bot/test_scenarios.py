"""Tests of bot/scenarios.py: scenario files, reply checks, the database reset, the runner."""

from __future__ import annotations

import json
import urllib.error
from datetime import date, datetime
from pathlib import Path
from typing import Any, Dict, List

import pytest

from bot.auth import verify_token
from bot.db.migrate import upgrade
from bot.policy.engine import BuyerFacts
from bot.scenarios import (
    PAD_CHARACTER,
    Expectation,
    Latency,
    ScenarioFileError,
    check_turn,
    collect,
    count_claims,
    group_by_today,
    load_file,
    reset_database,
    run_scenario,
)
from bot.services import lookup_order, open_claim
from bot.settings import SHOP_TZ, load_settings
from tests.conftest import small_order_set

SECRET = "scenario-test-secret-0123456789abcdef"
URL = "http://bot.test"

FILE = """\
today: 2026-11-24
fixtures:
  shops: [{id: shop_t, name: 测试小铺}]
  buyers: [{id: buyer_a, nick: 甲}]
  orders:
    - order_id: "2026110100001"
      buyer_id: buyer_a
      shop_id: shop_t
      product: 纯棉T恤
      category: general
      quantity: 1
      price: "129.00"
      status: completed
      paid_at: 2026-11-01T10:00:00+08:00
      completed_at: 2026-11-10T23:30:00+08:00
scenarios:
  - name: quality
    buyer: {sub: buyer_a}
    turns:
      - user: 订单2026110100001质量有问题
        contains: [2026110100001, 2026年11月25日]
        rule_ids: [W1]
      - user: /affirm
        contains: [AS2026110100001]
    claim: opened
  - name: number only
    buyer: {sub: shop_t, role: seller}
    turns:
      - user: 2026110100001
        pad_to: 20
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------
# Files


def test_a_file_is_read_with_numbers_kept_as_written(tmp_path: Path) -> None:
    parsed = load_file(write(tmp_path, "a.yml", FILE))
    assert parsed.today == date(2026, 11, 24)
    first, second = parsed.scenarios
    assert first.turns[0].contains == ["2026110100001", "2026年11月25日"]
    assert first.buyer.role == "buyer" and second.buyer.role == "seller"
    assert second.turns[0].user == "2026110100001"
    assert parsed.fixture_orders() == [{"order_id": "2026110100001", "buyer_id": "buyer_a"}]


def test_the_import_time_defaults_to_noon_of_today_in_china(tmp_path: Path) -> None:
    parsed = load_file(write(tmp_path, "a.yml", FILE))
    assert parsed.import_time() == datetime(2026, 11, 24, 12, 0, tzinfo=SHOP_TZ)


def test_padding_puts_filler_before_the_request(tmp_path: Path) -> None:
    turn = load_file(write(tmp_path, "a.yml", FILE)).scenarios[1].turns[0]
    message = turn.message()
    assert len(message) == 20
    assert message.endswith("2026110100001")
    assert message.startswith(PAD_CHARACTER * 7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- just a list\n", "expected a mapping"),
        (FILE.replace("today: 2026-11-24\n", ""), "today"),
        (FILE.replace("claim: opened", "claim: maybe"), "claim"),
        (FILE.replace("rule_ids: [W1]", "rule_id: [W1]"), "rule_id"),
        (FILE.replace("name: number only", "name: quality"), "used twice: quality"),
        ("today: [unclosed\n", "not valid YAML"),
        ("imported_at: 2026-11-10T08:00:00+08:00\n" + FILE, "imported_at"),
        (FILE.replace("role: seller", "role: admin"), "role"),
    ],
)
def test_a_broken_file_is_refused_naming_the_file_and_place(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, "broken.yml", text)
    with pytest.raises(ScenarioFileError) as caught:
        load_file(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_a_folder_gives_its_yaml_files_in_order_and_an_empty_one_is_an_error(
    tmp_path: Path,
) -> None:
    write(tmp_path, "b.yml", FILE.replace("2026-11-24", "2026-11-20", 1))
    write(tmp_path, "a.yaml", FILE)
    write(tmp_path, "notes.txt", "not a scenario")
    files = collect(tmp_path)
    assert [f.path.name for f in files] == ["a.yaml", "b.yml"]
    assert list(group_by_today(files)) == [date(2026, 11, 20), date(2026, 11, 24)]
    assert [f.path.name for f in collect(tmp_path / "a.yaml")] == ["a.yaml"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ScenarioFileError, match="no scenario files"):
        collect(empty)


def test_the_repository_scenarios_load_and_number_at_least_20() -> None:
    files = collect(Path(__file__).resolve().parents[1] / "scenarios")
    assert sum(len(f.scenarios) for f in files) >= 20


# --------------------------------------------------------------------------
# Checks

POLICY_REPLY: List[Dict[str, Any]] = [
    {"recipient_id": "s", "text": "订单 2026110100001：售后期至2026年11月25日，还剩1天"},
    {"recipient_id": "s", "custom": {"rule_ids": ["W1", "F1"], "decision": {}}},
    {
        "recipient_id": "s",
        "text": "要为您申请售后吗？",
        "buttons": [{"title": "是", "payload": "/affirm"}, {"title": "否", "payload": "/deny"}],
        "custom": {"rule_ids": ["E2"]},
    },
]


def test_a_reply_that_meets_every_expectation_passes() -> None:
    expect = Expectation(
        contains=["2026110100001", "2026年11月25日"],
        not_contains=["2026年11月24日"],
        rule_ids=["W1", "E2"],
        buttons=True,
        payloads=["/affirm", "/deny"],
        not_payloads=["/provide_order_id"],
        empty=False,
        handoff=False,
    )
    assert check_turn(expect, POLICY_REPLY) == []


@pytest.mark.parametrize(
    ("expect", "problem"),
    [
        (Expectation(contains=["2026年11月26日"]), "contains: missing ['2026年11月26日']"),
        (Expectation(not_contains=["还剩1天"]), "not_contains: found ['还剩1天']"),
        (Expectation(rule_ids=["W8"]), "rule_ids: missing ['W8'], got ['W1', 'F1', 'E2']"),
        (Expectation(buttons=False), "buttons: expected False"),
        (Expectation(payloads=["/handoff"]), "payloads: missing ['/handoff']"),
        (Expectation(not_payloads=["/affirm"]), "not_payloads: offered ['/affirm']"),
        (Expectation(empty=True), "empty: expected True, got 3 message(s)"),
        (Expectation(handoff=True), "handoff: expected True, got False"),
    ],
)
def test_each_unmet_expectation_is_reported(expect: Expectation, problem: str) -> None:
    problems = check_turn(expect, POLICY_REPLY)
    assert len(problems) == 1 and problems[0].startswith(problem)


def test_a_fact_given_as_a_list_is_met_by_any_of_its_wordings() -> None:
    assert check_turn(Expectation(contains=[["还剩1天", "还有1天"]]), POLICY_REPLY) == []
    problems = check_turn(Expectation(contains=[["还剩2天", "还有2天"]]), POLICY_REPLY)
    assert problems == ["contains: missing [['还剩2天', '还有2天']]"]


def test_no_reply_handoff_and_button_less_replies() -> None:
    assert check_turn(Expectation(empty=True, buttons=False), []) == []
    handoff = [{"recipient_id": "s", "text": "转人工", "custom": {"handoff": True}}]
    assert check_turn(Expectation(handoff=True, buttons=False), handoff) == []
    assert check_turn(Expectation(empty=False), []) == ["empty: expected False, got 0 message(s)"]
    odd = [{"recipient_id": "s", "custom": "not a mapping", "buttons": ["not a button"]}]
    assert check_turn(Expectation(rule_ids=[], buttons=False), odd) == []


# --------------------------------------------------------------------------
# Database and runner


@pytest.fixture()
def schema_url(db_url: str) -> str:
    upgrade(db_url)
    return db_url


def test_reset_leaves_just_the_fixtures(schema_url: str) -> None:
    settings = load_settings({"SHOPBOT_DB_URL": schema_url, "SHOPBOT_TODAY": "2026-11-05"})
    now = datetime(2026, 11, 24, 12, tzinfo=SHOP_TZ)
    data = small_order_set()
    reset_database(schema_url, data, now)
    orders = [{"order_id": o["order_id"], "buyer_id": o["buyer_id"]} for o in data["orders"]]
    opened = open_claim(settings, "buyer_a", "2026110100001", "quality_issue", BuyerFacts())
    assert opened.outcome == "opened"
    assert count_claims(settings, orders) == 1

    smaller = {**data, "orders": data["orders"][:1]}
    reset_database(schema_url, smaller, now)
    assert count_claims(settings, orders[:1]) == 0
    assert lookup_order(settings, "buyer_a", "2026110500002").outcome == "not_found"
    assert lookup_order(settings, "buyer_a", "2026110100001").outcome == "found"


def test_a_broken_fixture_leaves_the_database_as_it_was(schema_url: str) -> None:
    settings = load_settings({"SHOPBOT_DB_URL": schema_url})
    now = datetime(2026, 11, 24, 12, tzinfo=SHOP_TZ)
    reset_database(schema_url, small_order_set(), now)
    broken = small_order_set()
    broken["orders"][0]["price"] = "not money"
    with pytest.raises(ValueError, match="price"):
        reset_database(schema_url, broken, now)
    assert lookup_order(settings, "buyer_a", "2026110500002").outcome == "found"


class FakeBot:
    """Answers like the dialogue contract and opens the claim on /affirm."""

    def __init__(self, settings: Any, fail_with: int = 0) -> None:
        self.settings = settings
        self.fail_with = fail_with
        self.calls: List[Dict[str, str]] = []

    def __call__(self, url: str, token: str, sender: str, text: str) -> List[Dict[str, Any]]:
        identity = verify_token(SECRET, token)
        self.calls.append({"url": url, "sub": identity.subject, "sender": sender, "text": text})
        if self.fail_with:
            raise urllib.error.HTTPError(url, self.fail_with, "refused", {}, None)  # type: ignore[arg-type]
        if text == "/affirm":
            result = open_claim(
                self.settings, identity.subject, "2026110100001", "quality_issue", BuyerFacts()
            )
            assert result.claim is not None
            return [{"recipient_id": sender, "text": f"已为您申请售后 {result.claim.number}"}]
        body = "订单 2026110100001：售后期至2026年11月25日，还剩1天"
        return [{"recipient_id": sender, "text": body, "custom": {"rule_ids": ["W1"]}}]


def scenario_setup(tmp_path: Path, db_url: str) -> Any:
    parsed = load_file(write(tmp_path, "a.yml", FILE))
    settings = load_settings(
        {"SHOPBOT_DB_URL": db_url, "SHOPBOT_TODAY": "2026-11-24", "SHOPBOT_JWT_SECRET": SECRET}
    )
    return parsed, settings


def test_a_passing_scenario_with_an_opened_claim(tmp_path: Path, schema_url: str) -> None:
    parsed, settings = scenario_setup(tmp_path, schema_url)
    fake = FakeBot(settings)
    result = run_scenario(
        parsed, parsed.scenarios[0], url=URL, secret=SECRET, settings=settings, send=fake
    )
    assert result.passed, result.describe()
    assert [turn.index for turn in result.turns] == [1, 2]
    assert all(turn.seconds >= 0 for turn in result.turns)
    assert {call["sub"] for call in fake.calls} == {"buyer_a"}
    assert len({call["sender"] for call in fake.calls}) == 1
    assert result.describe().startswith("PASS  a.yml :: quality")

    again = run_scenario(
        parsed, parsed.scenarios[0], url=URL, secret=SECRET, settings=settings, send=fake
    )
    assert again.passed, "the claim of the first run was wiped by the reset"
    assert fake.calls[0]["sender"] != fake.calls[-1]["sender"]


def test_a_claim_that_was_not_expected_fails(tmp_path: Path, schema_url: str) -> None:
    parsed, settings = scenario_setup(tmp_path, schema_url)
    scenario = parsed.scenarios[0].model_copy(update={"claim": "none"})
    result = run_scenario(
        parsed, scenario, url=URL, secret=SECRET, settings=settings, send=FakeBot(settings)
    )
    assert not result.passed
    assert result.problems == ["claim: expected none, 1 opened"]


def test_a_failing_turn_shows_expected_and_got(tmp_path: Path, schema_url: str) -> None:
    parsed, settings = scenario_setup(tmp_path, schema_url)
    first = parsed.scenarios[0]
    turn = first.turns[0].model_copy(update={"contains": ["2026年11月26日"]})
    scenario = first.model_copy(update={"turns": [turn], "claim": "opened"})
    result = run_scenario(
        parsed, scenario, url=URL, secret=SECRET, settings=settings, send=FakeBot(settings)
    )
    report = result.describe()
    assert report.startswith("FAIL  a.yml :: quality")
    assert "turn 1 user='订单2026110100001质量有问题'" in report
    assert "contains: missing ['2026年11月26日']" in report
    assert "got text: '订单 2026110100001：售后期至2026年11月25日，还剩1天'" in report
    assert json.dumps({"rule_ids": ["W1"], "payloads": []}) in report
    assert "claim: expected one opened, none was" in report


def test_an_http_error_fails_the_turn_and_ends_the_scenario(
    tmp_path: Path, schema_url: str
) -> None:
    parsed, settings = scenario_setup(tmp_path, schema_url)
    fake = FakeBot(settings, fail_with=429)
    result = run_scenario(
        parsed, parsed.scenarios[0], url=URL, secret=SECRET, settings=settings, send=fake
    )
    assert not result.passed
    assert len(fake.calls) == 1
    assert result.turns[0].problems == ["HTTP 429 from the shop channel"]


def test_a_known_issue_fails_as_known_and_passes_as_fixed(tmp_path: Path, schema_url: str) -> None:
    parsed, settings = scenario_setup(tmp_path, schema_url)
    marked = parsed.scenarios[0].model_copy(update={"known_issue": "the bot is wrong"})
    fixed = run_scenario(
        parsed, marked, url=URL, secret=SECRET, settings=settings, send=FakeBot(settings)
    )
    assert (fixed.status, fixed.ok) == ("FIXED", False)
    assert "remove known_issue" in fixed.describe()

    failing = marked.model_copy(update={"claim": "none"})
    known = run_scenario(
        parsed, failing, url=URL, secret=SECRET, settings=settings, send=FakeBot(settings)
    )
    assert (known.status, known.ok) == ("KNOWN", True)
    assert known.describe().splitlines()[1] == "    known issue: the bot is wrong"

    plain = run_scenario(
        parsed,
        failing.model_copy(update={"known_issue": None}),
        url=URL,
        secret=SECRET,
        settings=settings,
        send=FakeBot(settings),
    )
    assert (plain.status, plain.ok) == ("FAIL", False)


def test_the_seller_token_carries_the_seller_role(tmp_path: Path, schema_url: str) -> None:
    parsed, settings = scenario_setup(tmp_path, schema_url)
    roles: List[str] = []

    def send(url: str, token: str, sender: str, text: str) -> List[Dict[str, Any]]:
        roles.append(verify_token(SECRET, token).role)
        return []

    run_scenario(parsed, parsed.scenarios[1], url=URL, secret=SECRET, settings=settings, send=send)
    assert roles == ["seller"]


def test_latency_summary() -> None:
    summary = Latency.of([0.001 * n for n in range(1, 101)])
    assert (summary.count, summary.median, summary.p95, summary.p99) == (100, 50.5, 95.0, 99.0)
    assert summary.maximum == pytest.approx(100.0)
    assert "p99 99 ms" in summary.describe()
    assert Latency.of([]).count == 0
