"""A pytest plugin that counts the cases hypothesis runs in each property test.

Every test decorated with ``@given`` is counted (each call of its body: the
generated examples, explicit ``@example`` ones and, on a failure, the
shrinking); the terminal summary ends with one line per property test and the
total, also under ``-q``. Loaded by ``tests/conftest.py`` in both Python
environments; it needs no hypothesis itself (a test without ``.hypothesis`` is
simply not counted). When hypothesis is installed, ``HYPOTHESIS_PROFILE``
selects the profile of :mod:`tests.strategies`.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Dict, Generator

import pytest

#: Cases run per test node id, in the order the tests ran.
CASES: Dict[str, int] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Load the hypothesis profile named by ``HYPOTHESIS_PROFILE``, if any."""
    if "HYPOTHESIS_PROFILE" not in os.environ:
        return
    try:
        from hypothesis import settings

        from tests.strategies import profile
    except ImportError:  # this environment has no hypothesis: nothing to count either
        return
    settings.load_profile(profile())


def counting(node_id: str, test: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``test`` wrapped so that each call adds one case to ``node_id``."""

    @functools.wraps(test)
    def counted(*args: Any, **kwargs: Any) -> Any:
        CASES[node_id] += 1
        return test(*args, **kwargs)

    return counted


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Count the cases of a hypothesis test while it runs."""
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    inner = getattr(handle, "inner_test", None)
    if handle is None or inner is None:
        return (yield)
    CASES.setdefault(item.nodeid, 0)
    # Hypothesis calls ``.hypothesis.inner_test`` for every case (the hook
    # pytest-trio and others use); one function object may serve several
    # parametrised items, so it is restored after each.
    handle.inner_test = counting(item.nodeid, inner)
    try:
        return (yield)
    finally:
        handle.inner_test = inner


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the cases of each property test and their total."""
    if not CASES:
        return
    profile = os.environ.get("HYPOTHESIS_PROFILE", "default")
    terminalreporter.write_sep("-", f"hypothesis cases (profile {profile})")
    for node_id, count in CASES.items():
        terminalreporter.write_line(f"{count:7d}  {node_id}")
    total = sum(CASES.values())
    terminalreporter.write_line(f"{total:7d}  in total, {len(CASES)} property tests")
