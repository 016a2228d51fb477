"""Summarise a ``rasa test nlu`` output folder; optionally gate on accuracy.

Prints the per-intent table (weakest first), accuracy, macro-F1 and the most
frequent confusions (gold → predicted, from ``intent_errors.json``). With
``--min-accuracy`` it exits 1 when the accuracy is below it (the gate of
``make test``); with ``--markdown FILE`` it also writes the tables as Markdown
for the README.

Usage::

    python scripts/nlu_report.py results/eval [--min-accuracy 0.85] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

AGGREGATES = ("macro avg", "weighted avg", "micro avg", "accuracy")


def load_report(folder: Path) -> Dict[str, Any]:
    """Read ``intent_report.json`` of a ``rasa test nlu`` output folder."""
    report: Dict[str, Any] = json.loads((folder / "intent_report.json").read_text(encoding="utf-8"))
    return report


def per_intent(report: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The report's rows of real intents (no averages, no empty rows)."""
    return {
        name: row
        for name, row in report.items()
        if isinstance(row, dict) and name not in AGGREGATES and row.get("support", 0) > 0
    }


def accuracy(report: Dict[str, Any]) -> float:
    """The report's accuracy (Rasa writes it as ``accuracy`` or ``micro avg``)."""
    value = report.get("accuracy", report.get("micro avg", {}).get("f1-score", 0.0))
    return float(value)


def confusions(folder: Path, top: int = 5) -> List[Tuple[str, str, int]]:
    """The ``top`` most frequent (gold, predicted, count) pairs of the errors."""
    path = folder / "intent_errors.json"
    if not path.exists():
        return []
    errors = json.loads(path.read_text(encoding="utf-8"))
    pairs = Counter((e["intent"], (e.get("intent_prediction") or {}).get("name")) for e in errors)
    return [(gold, str(predicted), count) for (gold, predicted), count in pairs.most_common(top)]


def markdown(report: Dict[str, Any], pairs: Sequence[Tuple[str, str, int]]) -> str:
    """The figures as Markdown: summary line, per-intent table, confusions."""
    rows = sorted(per_intent(report).items(), key=lambda item: (item[1]["f1-score"], item[0]))
    lines = [
        f"accuracy **{accuracy(report):.3f}**, macro-F1 **{report['macro avg']['f1-score']:.3f}**",
        "",
        "| intent | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {row['precision']:.2f} | {row['recall']:.2f} | {row['f1-score']:.2f} "
        f"| {row['support']} |"
        for name, row in rows
    ]
    lines += ["", "| gold | predicted | count |", "|---|---|---:|"]
    lines += [f"| {gold} | {predicted} | {count} |" for gold, predicted, count in pairs]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the summary; return 1 when below ``--min-accuracy``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="output folder of rasa test nlu")
    parser.add_argument("--min-accuracy", type=float, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args(argv)
    report = load_report(args.folder)
    print(f"{'intent':28} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}")
    for name, row in sorted(per_intent(report).items(), key=lambda item: item[1]["f1-score"]):
        print(
            f"{name:28} {row['precision']:9.3f} {row['recall']:7.3f} "
            f"{row['f1-score']:6.3f} {row['support']:7d}"
        )
    pairs = confusions(args.folder)
    for gold, predicted, count in pairs:
        print(f"confusion {gold} -> {predicted}: {count}")
    value = accuracy(report)
    print(f"accuracy {value:.4f}")
    print(f"macro-F1 {report['macro avg']['f1-score']:.4f}")
    if args.markdown:
        args.markdown.write_text(markdown(report, pairs), encoding="utf-8")
    if args.min_accuracy is not None and value < args.min_accuracy:
        print(f"FAIL: accuracy {value:.4f} is below the gate {args.min_accuracy}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
