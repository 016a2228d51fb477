"""Run scenario files against the real servers: ``make scenarios FILE=...``.

FILE is a scenario file or a folder of them (default ``tests/scenarios/``).
For each distinct ``today`` of the files it starts the action server and the
Rasa server (``bot.devtools.Stack``, SQLite in ``--workdir``), runs every
scenario on a database holding just its file's fixtures, and prints PASS/FAIL
per scenario (the failing turn: expected vs got) and the latency of every
turn: median, p95, p99 and max. The target of issue 5 is p99 < 300 ms with
one conversation at a time; it is printed, not asserted. Exit code 1 when any
scenario fails (a scenario marked ``known_issue`` is KNOWN when it fails and
FIXED, a failure, when it passes), 2 when a file cannot be read or the model
is missing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

from bot.chat import send
from bot.scenarios import Latency, ScenarioFileError, ScenarioResult, collect, run_files
from bot.settings import PROJECT_ROOT


def parse_arguments(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line: FILE, ``--model``, ``--workdir``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "target",
        nargs="?",
        type=Path,
        default=PROJECT_ROOT / "tests" / "scenarios",
        help="a scenario file or a folder of them (default: tests/scenarios/)",
    )
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "models" / "current.tar.gz")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="databases and server logs (default: a temp dir)"
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the scenarios; return the exit code."""
    args = parse_arguments(argv)
    try:
        files = collect(args.target)
    except ScenarioFileError as exc:
        print(f"scenarios: {exc}", file=sys.stderr)
        return 2
    if not args.model.is_file():
        print(f"scenarios: no trained model at {args.model} (run `make train`)", file=sys.stderr)
        return 2
    count = sum(len(f.scenarios) for f in files)
    todays = sorted({f.today.isoformat() for f in files})
    print(f"{count} scenarios in {len(files)} file(s); one stack per today: {', '.join(todays)}")

    def report(result: ScenarioResult) -> None:
        print(result.describe(), flush=True)

    with tempfile.TemporaryDirectory(prefix="shopbot-scenarios-") as scratch:
        workdir = args.workdir or Path(scratch)
        results: List[ScenarioResult] = run_files(files, args.model, workdir, send, report)
    failed = [result for result in results if not result.ok]
    known = [result for result in results if result.status == "KNOWN"]
    seconds = [turn.seconds for result in results for turn in result.turns]
    print(Latency.of(seconds).describe() + " (target: p99 < 300 ms, one conversation alone)")
    passed = len(results) - len(failed) - len(known)
    print(f"scenarios: {passed} passed, {len(failed)} failed, {len(known)} known issues")
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
