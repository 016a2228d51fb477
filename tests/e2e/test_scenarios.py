"""End to end: every scenario file of the repository against the real servers.

One test per scenario. The servers run once per distinct ``today`` of the
files (the tests are ordered by it and a stack is stopped when the next
``today`` starts), on an SQLite database that each scenario refills with just
its file's fixtures. A scenario marked ``known_issue`` that fails is an
expected failure (xfail); one that passes fails the test until the mark is
removed. The turn latencies are printed at the end (``-s``), not asserted:
``make scenarios`` prints them too.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from bot.chat import send
from bot.devtools import Stack
from bot.scenarios import (
    Latency,
    Scenario,
    ScenarioFile,
    collect,
    each_scenario,
    group_by_today,
    run_scenario,
    stack_for,
    stack_settings,
)
from tests.e2e.conftest import ROOT, model_path

SCENARIOS = ROOT / "tests" / "scenarios"


def _cases() -> List[Tuple[ScenarioFile, Scenario]]:
    groups = group_by_today(collect(SCENARIOS))
    return [case for files in groups.values() for case in each_scenario(files)]


CASES = _cases()


class Stacks:
    """At most one running stack, for the ``today`` of the current test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.today: date | None = None
        self.stack: Stack | None = None
        self.secret = ""
        self.seconds: List[float] = []

    def for_today(self, today: date) -> Stack:
        if self.stack is not None and self.today == today:
            return self.stack
        self.stop()
        self.secret = uuid.uuid4().hex * 2
        self.stack = stack_for(model_path(), self.workdir / today.isoformat(), self.secret, today)
        self.stack.start()
        self.today = today
        return self.stack

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        self.stack = None


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stacks]:
    running = Stacks(tmp_path_factory.mktemp("scenarios"))
    yield running
    running.stop()
    print("\n" + Latency.of(running.seconds).describe())


def test_the_repository_holds_at_least_20_scenarios() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize(
    ("scenario_file", "scenario"),
    CASES,
    ids=[f"{f.path.stem}::{s.name}" for f, s in CASES],
)
def test_scenario(stacks: Stacks, scenario_file: ScenarioFile, scenario: Scenario) -> None:
    stack = stacks.for_today(scenario_file.today)
    result = run_scenario(
        scenario_file,
        scenario,
        url=stack.url,
        secret=stacks.secret,
        settings=stack_settings(stack),
        send=send,
    )
    stacks.seconds.extend(turn.seconds for turn in result.turns)
    if result.status == "KNOWN":
        pytest.xfail(result.describe())
    if not result.ok:
        pytest.fail(result.describe(), pytrace=False)


def _todays() -> Dict[date, int]:
    return {today: len(files) for today, files in group_by_today(collect(SCENARIOS)).items()}


def test_scenarios_are_ordered_by_today_so_each_stack_starts_once() -> None:
    seen: List[date] = []
    for scenario_file, _ in CASES:
        if not seen or seen[-1] != scenario_file.today:
            seen.append(scenario_file.today)
    assert len(seen) == len(_todays())
