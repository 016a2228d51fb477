"""Tests of tests/hypothesis_cases.py: the case counts printed at the end of a run."""

from __future__ import annotations

import re
from pathlib import Path

from tests.bot.subprocess_helpers import run_python

PROPERTIES = """
import pytest
from hypothesis import given, settings, strategies as st

@settings(max_examples=7, database=None)
@given(st.integers())
def test_seven(x):
    pass

@pytest.mark.parametrize("n", [1, 2])
@settings(max_examples=3, database=None)
@given(st.integers())
def test_three_each(n, x):
    pass

def test_plain():
    pass
"""


def test_each_property_test_and_the_total_are_printed_under_q(tmp_path: Path) -> None:
    (tmp_path / "test_props.py").write_text(PROPERTIES, encoding="utf-8")
    run = run_python(
        [
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.hypothesis_cases",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_props.py"),
        ]
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    counts = {
        match.group(2): int(match.group(1))
        for match in (re.fullmatch(r"\s*(\d+)  (\S.*)", line) for line in lines)
        if match
    }
    assert counts == {
        "test_props.py::test_seven": 7,
        "test_props.py::test_three_each[1]": 3,
        "test_props.py::test_three_each[2]": 3,
        "in total, 3 property tests": 13,
    }
    assert any("hypothesis cases (profile default)" in line for line in lines)
