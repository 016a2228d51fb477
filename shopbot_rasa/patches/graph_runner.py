"""Run Rasa's model graph in order, without dask's scheduler.

Rasa 3.6.21 runs its model graph through dask (``DaskGraphRunner.run`` →
``dask.get``) twice per message at least: once for NLU, once per predicted
action. The graph is small (a few dozen nodes) and dask's synchronous
scheduler spends more on ordering, futures and queues than on many of the
nodes: measured with py-spy, 10 to 13 % of the Rasa server's CPU in a turn,
30 % of a policy prediction.

:func:`install` replaces ``DaskGraphRunner.run`` with the same run done by
:func:`execute`: the same minimal graph (Rasa's own ``_build_dask_graph`` and
``_add_inputs_to_graph``), every node of it called once with the results of
the nodes it needs, in dependency order, in the calling thread (as dask's
synchronous scheduler does), the targets' results returned as the same
dictionary, a node's exception raised as is, and a ``RuntimeError`` (a
cycle) turned into Rasa's ``GraphRunError``. The debug line is only
formatted when debug logging is on.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from shopbot_rasa.patches.expected import require_rasa

#: SHA-256 of the source of each ``DaskGraphRunner`` method the patch
#: replaces (``run``) or relies on (the graph it builds).
EXPECTED_SOURCES = {
    "run": "45f0f52f574f3aa9546a552bf671183e171092c18b66e97f5771a7fa295de37e",
    "_build_dask_graph": "5bb99f974d512a36acb61caaf77aafc851b90c04ce4d02c262f230c75086cbee",
    "_add_inputs_to_graph": "d04a0ca2df6241c16997b89d63e2ca89cd1d43bd5f9920843a2a86cb4286ac73",
}

#: Marks the replacement (``install`` is idempotent).
_PATCHED = "_shopbot_sequential_runner"


def is_task(value: Any) -> bool:
    """Tell whether a graph entry is a task: a tuple whose first item is callable (dask's rule)."""
    return type(value) is tuple and bool(value) and callable(value[0])


def execute(graph: Mapping[str, Any], targets: Sequence[str]) -> List[Any]:
    """Run every task of a dask-style graph once, in dependency order, in the calling thread.

    As ``dask.get`` does, every task of the graph runs (Rasa's graphs hold
    only what the targets need), each after the tasks it needs.

    Args:
        graph: Keys to tasks ``(callable, *argument_keys)`` or to plain values.
            An argument that is a key of the graph is replaced by that key's
            result; any other argument is passed as it is.
        targets: The keys whose results are returned.

    Returns:
        The targets' results, in the order of ``targets``.

    Raises:
        RuntimeError: The graph has a cycle.
        KeyError: A target is not in the graph.
    """
    results: Dict[str, Any] = {}
    running: set[str] = set()

    def compute(key: str) -> Any:
        if key in results:
            return results[key]
        entry = graph[key]
        if not is_task(entry):
            results[key] = entry
            return entry
        if key in running:
            raise RuntimeError(f"Cycle detected in the graph at {key!r}")
        running.add(key)
        arguments = [
            compute(argument) if isinstance(argument, str) and argument in graph else argument
            for argument in entry[1:]
        ]
        running.discard(key)
        results[key] = entry[0](*arguments)
        return results[key]

    wanted = [compute(target) for target in targets]
    for key in graph:
        compute(key)
    return wanted


def _replacement(original: Callable[..., Dict[str, Any]]) -> Callable[..., Dict[str, Any]]:
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner import dask as dask_runner

    logger = dask_runner.logger

    def run(
        self: Any,
        inputs: Optional[Dict[str, Any]] = None,
        targets: Optional[List[str]] = None,
    ) -> Dict[str, Any]:
        run_targets = targets if targets else self._graph_schema.target_names
        minimal_schema = self._graph_schema.minimal_graph_schema(run_targets)
        run_graph = self._build_dask_graph(minimal_schema)

        if inputs:
            self._add_inputs_to_graph(inputs, run_graph)

        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                f"Running graph with inputs: {inputs}, targets: {targets} "
                f"and {self._execution_context}."
            )

        try:
            return dict(execute(run_graph, run_targets))
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e

    run.__doc__ = original.__doc__
    run.__qualname__ = original.__qualname__
    run.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(run, _PATCHED, True)
    return run


def install() -> None:
    """Replace ``DaskGraphRunner.run`` (idempotent).

    Raises:
        PatchMismatchError: Rasa is not 3.6.21, or the runner is not the one
            this patch was written for.
    """
    from rasa.engine.runner.dask import DaskGraphRunner

    current = DaskGraphRunner.__dict__.get("run")
    if getattr(current, _PATCHED, False):
        return
    methods = {name: DaskGraphRunner.__dict__.get(name) for name in EXPECTED_SOURCES}
    functions = {name: getattr(method, "__func__", method) for name, method in methods.items()}
    require_rasa("graph_runner", functions, EXPECTED_SOURCES)
    DaskGraphRunner.run = _replacement(current)  # type: ignore[method-assign]
