"""Tests of shopbot_rasa/patches/graph_runner.py: Rasa's graph run in order, without dask.

The replacement must give what ``dask.get`` gives on the graphs Rasa builds:
the same results, each node run once, the same errors.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Dict, List, Optional, Tuple

import dask
import pytest
import rasa
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema, SchemaNode
from rasa.engine.runner.dask import DaskGraphRunner

from shopbot_rasa import patches
from shopbot_rasa.patches import graph_runner
from shopbot_rasa.patches.expected import PatchMismatchError


class Node:
    """Stands in for Rasa's GraphNode: returns (name, what it was called with)."""

    def __init__(self, name: str, calls: Counter[str], fail: Optional[Exception] = None) -> None:
        self.name = name
        self.calls = calls
        self.fail = fail

    def __call__(self, *inputs: Any) -> Tuple[str, Any]:
        self.calls[self.name] += 1
        if self.fail is not None:
            raise self.fail
        return self.name, [self.name, *(repr(each) for each in inputs)]


def _runner(
    needs: Dict[str, Dict[str, str]],
    targets: List[str],
    fail: Optional[Dict[str, Exception]] = None,
) -> Tuple[DaskGraphRunner, Counter[str]]:
    """A DaskGraphRunner over a schema of stand-in nodes (no model, no components)."""
    calls: Counter[str] = Counter()
    nodes = {
        name: SchemaNode(needs=need, uses=object, constructor_name="", fn="", config={})  # type: ignore[arg-type]
        for name, need in needs.items()
    }
    for name in targets:
        nodes[name].is_target = True
    runner = object.__new__(DaskGraphRunner)
    runner._graph_schema = GraphSchema(nodes)
    runner._instantiated_nodes = {name: Node(name, calls, (fail or {}).get(name)) for name in needs}  # type: ignore[assignment]
    runner._execution_context = None  # type: ignore[assignment]
    return runner, calls


#: A graph shaped like Rasa's: inputs, a chain, a diamond, a node nobody needs.
NEEDS = {
    "tokenizer": {"messages": "__message__"},
    "featurizer": {"messages": "tokenizer"},
    "classifier": {"messages": "featurizer"},
    "extractor": {"messages": "tokenizer"},
    "merged": {"a": "classifier", "b": "extractor", "tracker": "__tracker__"},
    "unused": {"x": "tokenizer"},
}


def _both(runner: DaskGraphRunner, calls: Counter[str], **kwargs: Any) -> Tuple[Any, Any]:
    graph_runner.install()
    original = DaskGraphRunner.__dict__["run"].__wrapped__
    before = original(runner, **kwargs)
    counted = Counter(calls)
    calls.clear()
    after = runner.run(**kwargs)
    assert calls == counted  # every needed node once, the same ones
    return before, after


def test_the_patch_is_registered_and_installed_once() -> None:
    assert graph_runner.install in patches.INSTALLERS
    graph_runner.install()
    first = DaskGraphRunner.__dict__["run"]
    graph_runner.install()
    assert DaskGraphRunner.__dict__["run"] is first
    assert first.__wrapped__.__qualname__ == "DaskGraphRunner.run"


@pytest.mark.parametrize("targets", [None, ["merged"], ["classifier", "extractor"], ["tokenizer"]])
def test_a_run_gives_what_dask_gives(targets: Optional[List[str]]) -> None:
    runner, calls = _runner(NEEDS, ["merged", "unused"])
    inputs = {"__message__": ["你好"], "__tracker__": {"sender": "c1"}}
    before, after = _both(runner, calls, inputs=inputs, targets=targets)
    assert after == before
    assert set(after) == set(targets or ["merged", "unused"])


def test_a_missing_input_is_passed_as_its_name_as_dask_does() -> None:
    runner, calls = _runner(NEEDS, ["merged"])
    before, after = _both(runner, calls, inputs=None, targets=["merged"])
    assert after == before


def test_a_nodes_error_is_raised_as_is() -> None:
    runner, _ = _runner(NEEDS, ["merged"], fail={"extractor": ValueError("bad message")})
    graph_runner.install()
    with pytest.raises(ValueError, match="bad message"):
        DaskGraphRunner.__dict__["run"].__wrapped__(runner, targets=["merged"])
    with pytest.raises(ValueError, match="bad message"):
        runner.run(targets=["merged"])


def test_a_runtime_error_becomes_a_graph_run_error() -> None:
    runner, _ = _runner(NEEDS, ["merged"], fail={"classifier": RuntimeError("boom")})
    graph_runner.install()
    for run in (DaskGraphRunner.__dict__["run"].__wrapped__, DaskGraphRunner.run):
        with pytest.raises(GraphRunError):
            run(runner, targets=["merged"])


def test_an_input_clashing_with_a_node_is_refused_as_before() -> None:
    runner, _ = _runner(NEEDS, ["merged"])
    graph_runner.install()
    with pytest.raises(GraphRunError, match="clashes"):
        runner.run(inputs={"__message__": "tokenizer"}, targets=["merged"])


def test_execute_agrees_with_dask_on_random_graphs() -> None:
    rng = random.Random(7)
    for _ in range(200):
        size = rng.randint(1, 12)
        calls: Counter[str] = Counter()
        graph: Dict[str, Any] = {"input": ("input", rng.random())}
        for index in range(size):
            earlier = [f"n{i}" for i in range(index)] + ["input", "not-a-key"]
            arguments = rng.sample(earlier, rng.randint(0, min(3, len(earlier))))
            graph[f"n{index}"] = (Node(f"n{index}", calls), *arguments)
        targets = rng.sample(sorted(graph), rng.randint(1, len(graph)))
        expected = dask.get(graph, targets)
        dask_calls = Counter(calls)
        calls.clear()
        assert graph_runner.execute(graph, targets) == list(expected)
        assert calls == dask_calls


def test_execute_refuses_a_cycle() -> None:
    calls: Counter[str] = Counter()
    graph = {"a": (Node("a", calls), "b"), "b": (Node("b", calls), "a")}
    with pytest.raises(RuntimeError, match="Cycle"):
        graph_runner.execute(graph, ["a"])


def test_install_refuses_another_rasa_version(monkeypatch: pytest.MonkeyPatch) -> None:
    graph_runner.install()
    original = DaskGraphRunner.__dict__["run"].__wrapped__
    monkeypatch.setattr(DaskGraphRunner, "run", original)
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    with pytest.raises(PatchMismatchError, match=r"3\.7\.0"):
        graph_runner.install()
    assert DaskGraphRunner.__dict__["run"] is original


def test_install_refuses_a_changed_graph_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    graph_runner.install()
    original = DaskGraphRunner.__dict__["run"].__wrapped__
    monkeypatch.setattr(DaskGraphRunner, "run", original)
    monkeypatch.setattr(DaskGraphRunner, "_build_dask_graph", lambda self, schema: {})
    with pytest.raises(PatchMismatchError, match="_build_dask_graph"):
        graph_runner.install()
    assert DaskGraphRunner.__dict__["run"] is original
