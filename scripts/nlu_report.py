"""Print accuracy, macro-F1 and the per-intent table of a Rasa intent report."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str) -> int:
    """Print the summary of ``intent_report.json``; return an exit code."""
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    intents = {
        name: row
        for name, row in report.items()
        if isinstance(row, dict) and name not in ("macro avg", "weighted avg", "micro avg")
    }
    print(f"{'intent':28} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}")
    for name, row in sorted(intents.items(), key=lambda item: item[1]["f1-score"]):
        print(
            f"{name:28} {row['precision']:9.3f} {row['recall']:7.3f} "
            f"{row['f1-score']:6.3f} {row['support']:7d}"
        )
    accuracy = report.get("accuracy", report.get("micro avg", {}).get("f1-score", 0.0))
    print(f"accuracy {accuracy:.4f}")
    print(f"macro-F1 {report['macro avg']['f1-score']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
