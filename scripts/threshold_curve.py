"""Choose FallbackClassifier's thresholds by measurement on a labelled set.

Parses every message of an NLU file with the trained model and keeps the
intent ranking (the classifier's own intents, ``nlu_fallback`` left out).
For each confidence ``threshold`` (0.1 … 0.9) and ``ambiguity_threshold``
(0 … 0.2) a message is *accepted* when its top confidence reaches the
threshold and beats the runner-up by the ambiguity margin; otherwise the bot
falls back ("please rephrase"). For each pair it reports the fallback rate,
the accuracy of the accepted messages and the share answered correctly.

The recommended pair maximises ``correct - COST x wrong`` over all messages,
a fallback counting 0 (default COST 1: a wrong answer undoes as much as a
right one gives, so a message is worth answering when it is more likely
right than wrong); ties go to the lower fallback rate, then to the higher
thresholds. The table (Markdown) and a PNG of the curve go to ``--out``.

Usage::

    python scripts/threshold_curve.py --nlu ../shared/eval/nlu_dev.yml \
        --model models/current.tar.gz --out results/eval
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

THRESHOLDS = [round(0.1 * step, 1) for step in range(1, 10)]
AMBIGUITIES = [0.0, 0.05, 0.1, 0.15, 0.2]
FALLBACK = "nlu_fallback"


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One labelled message and what the classifier ranked for it."""

    gold: str
    top: str
    confidence: float
    runner_up: float


@dataclasses.dataclass(frozen=True)
class Point:
    """The outcome of one (threshold, ambiguity) pair over all messages."""

    threshold: float
    ambiguity: float
    fallback_rate: float
    accepted_accuracy: float
    correct_share: float
    score: float


def evaluate(
    predictions: Sequence[Prediction], threshold: float, ambiguity: float, cost: float
) -> Point:
    """Outcome of one pair of thresholds.

    Args:
        predictions: The parsed messages.
        threshold: FallbackClassifier ``threshold``.
        ambiguity: FallbackClassifier ``ambiguity_threshold``.
        cost: How many fallbacks one wrong answer is worth.

    Returns:
        The point of the curve.
    """
    accepted = [
        p
        for p in predictions
        if p.confidence >= threshold and p.confidence - p.runner_up >= ambiguity
    ]
    correct = sum(p.top == p.gold for p in accepted)
    wrong = len(accepted) - correct
    total = max(1, len(predictions))
    return Point(
        threshold=threshold,
        ambiguity=ambiguity,
        fallback_rate=1 - len(accepted) / total,
        accepted_accuracy=correct / len(accepted) if accepted else 0.0,
        correct_share=correct / total,
        score=(correct - cost * wrong) / total,
    )


def curve(predictions: Sequence[Prediction], cost: float) -> List[Point]:
    """Every (threshold, ambiguity) point of the grid."""
    return [evaluate(predictions, t, a, cost) for a in AMBIGUITIES for t in THRESHOLDS]


def best(points: Sequence[Point]) -> Point:
    """The recommended point: highest score, then lowest fallback rate.

    Points that are still equal behave the same on the measured set; the
    higher thresholds are taken, the safer choice on messages not measured.
    """
    return max(
        points,
        key=lambda p: (round(p.score, 6), -round(p.fallback_rate, 6), p.threshold, p.ambiguity),
    )


def from_parse(gold: str, parsed: Dict[str, Any]) -> Prediction:
    """Build a :class:`Prediction` from a Rasa parse result."""
    ranking = [r for r in parsed.get("intent_ranking") or [] if r.get("name") != FALLBACK]
    if not ranking:
        return Prediction(gold, FALLBACK, 0.0, 0.0)
    second = float(ranking[1]["confidence"]) if len(ranking) > 1 else 0.0
    return Prediction(gold, str(ranking[0]["name"]), float(ranking[0]["confidence"]), second)


def parse_all(model: Path, nlu: Path) -> List[Prediction]:
    """Parse every message of ``nlu`` with ``model``."""
    from rasa.core.agent import Agent
    from rasa.shared.nlu.training_data.loading import load_data

    agent = Agent.load(str(model))
    data = load_data(str(nlu))

    async def run() -> List[Prediction]:
        return [
            from_parse(str(example.get("intent")), await agent.parse_message(example.get("text")))
            for example in data.intent_examples
        ]

    return asyncio.run(run())


def table(points: Sequence[Point], chosen: Point) -> str:
    """The curve as a Markdown table (one row per threshold, one block per ambiguity)."""
    lines = [
        "| threshold | ambiguity | fallback rate | accuracy of accepted | answered correctly |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        mark = " ←" if p == chosen else ""
        lines.append(
            f"| {p.threshold:.1f} | {p.ambiguity:.2f} | {p.fallback_rate:.3f} "
            f"| {p.accepted_accuracy:.3f} | {p.correct_share:.3f}{mark} |"
        )
    return "\n".join(lines) + "\n"


def plot(points: Sequence[Point], chosen: Point, path: Path) -> bool:
    """Draw accuracy of accepted vs fallback rate per ambiguity; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for ambiguity in AMBIGUITIES:
        row = [p for p in points if p.ambiguity == ambiguity]
        axes.plot(
            [p.fallback_rate for p in row],
            [p.accepted_accuracy for p in row],
            marker="o",
            label=f"ambiguity {ambiguity:.2f}",
        )
    axes.annotate(
        f"chosen: threshold {chosen.threshold:.1f}, ambiguity {chosen.ambiguity:.2f}",
        (chosen.fallback_rate, chosen.accepted_accuracy),
        xytext=(10, -25),
        textcoords="offset points",
        arrowprops={"arrowstyle": "->"},
    )
    axes.set_xlabel("fallback rate (share of messages the bot asks to rephrase)")
    axes.set_ylabel("accuracy of accepted messages")
    axes.set_title("FallbackClassifier thresholds 0.1-0.9 on the dev set")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print and write the curve; return an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nlu", type=Path, default=Path("../shared/eval/nlu_dev.yml"))
    parser.add_argument("--model", type=Path, default=Path("models/current.tar.gz"))
    parser.add_argument("--out", type=Path, default=Path("results/eval"))
    parser.add_argument("--cost", type=float, default=1.0, help="fallbacks per wrong answer")
    args = parser.parse_args(argv)
    predictions = parse_all(args.model, args.nlu)
    points = curve(predictions, args.cost)
    chosen = best(points)
    args.out.mkdir(parents=True, exist_ok=True)
    text = table(points, chosen)
    (args.out / "threshold_curve.md").write_text(text, encoding="utf-8")
    rows: List[Tuple[str, Any]] = [
        (f.name, getattr(chosen, f.name)) for f in dataclasses.fields(chosen)
    ]
    (args.out / "threshold_choice.json").write_text(json.dumps(dict(rows), indent=2))
    print(text)
    drawn = plot(points, chosen, args.out / "threshold_curve.png")
    print(
        f"messages {len(predictions)}; chosen threshold {chosen.threshold:.1f}, ambiguity "
        f"{chosen.ambiguity:.2f}: fallback {chosen.fallback_rate:.3f}, accuracy of accepted "
        f"{chosen.accepted_accuracy:.3f} (cost of a wrong answer: {args.cost} fallbacks)"
        + ("" if drawn else "; matplotlib missing, no PNG")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
