"""Tests of the NLU evaluation scripts: report, gate and threshold curve."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Dict

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


report_script = load("nlu_report")
curve_script = load("threshold_curve")


def row(f1: float, support: int) -> Dict[str, Any]:
    return {"precision": f1, "recall": f1, "f1-score": f1, "support": support}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    report = {
        "greet": row(1.0, 4),
        "deny": row(0.5, 4),
        "not_as_described": row(0.25, 4),
        "macro avg": row(0.58, 12),
        "weighted avg": row(0.58, 12),
        "accuracy": 0.75,
    }
    errors = [
        {"text": "a", "intent": "not_as_described", "intent_prediction": {"name": "deny"}},
        {"text": "b", "intent": "not_as_described", "intent_prediction": {"name": "deny"}},
        {"text": "c", "intent": "deny", "intent_prediction": {"name": "greet"}},
    ]
    (tmp_path / "intent_report.json").write_text(json.dumps(report))
    (tmp_path / "intent_errors.json").write_text(json.dumps(errors))
    return tmp_path


def test_confusions_are_counted_most_frequent_first(folder: Path) -> None:
    assert report_script.confusions(folder) == [
        ("not_as_described", "deny", 2),
        ("deny", "greet", 1),
    ]


def test_the_gate_fails_below_the_minimum(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report_script.main([str(folder), "--min-accuracy", "0.85"]) == 1
    assert "below the gate" in capsys.readouterr().out
    assert report_script.main([str(folder), "--min-accuracy", "0.75"]) == 0


def test_the_markdown_lists_weakest_intents_first(folder: Path) -> None:
    out = folder / "report.md"
    assert report_script.main([str(folder), "--markdown", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "accuracy **0.750**, macro-F1 **0.580**" in text
    assert text.index("| not_as_described |") < text.index("| deny |") < text.index("| greet |")
    assert "| not_as_described | deny | 2 |" in text


def p(gold: str, top: str, confidence: float, runner_up: float = 0.0) -> Any:
    return curve_script.Prediction(gold, top, confidence, runner_up)


def test_a_point_counts_fallbacks_and_accepted_accuracy() -> None:
    predictions = [p("a", "a", 0.9), p("a", "b", 0.4), p("b", "b", 0.55, 0.5), p("b", "a", 0.8)]
    point = curve_script.evaluate(predictions, threshold=0.5, ambiguity=0.1, cost=1.0)
    assert point.fallback_rate == 0.5
    assert point.accepted_accuracy == 0.5
    assert point.correct_share == 0.25
    assert point.score == 0.0


def test_the_best_point_trades_wrong_answers_for_fallbacks() -> None:
    predictions = [p("a", "a", 0.95)] * 6 + [p("a", "b", 0.35)] * 4
    chosen = curve_script.best(curve_script.curve(predictions, cost=1.0))
    # Any threshold from 0.4 up rejects exactly the wrong answers: the highest is kept.
    assert (chosen.threshold, chosen.ambiguity) == (0.9, 0.2)
    assert chosen.fallback_rate == pytest.approx(0.4)
    assert chosen.accepted_accuracy == 1.0


def test_the_best_point_prefers_fewer_fallbacks_on_a_tie() -> None:
    predictions = [p("a", "a", 0.95)] * 10
    assert curve_script.best(curve_script.curve(predictions, cost=1.0)).fallback_rate == 0.0


def test_a_parse_without_ranking_is_a_fallback() -> None:
    assert curve_script.from_parse("a", {"intent_ranking": []}).top == "nlu_fallback"
    ranked = curve_script.from_parse(
        "a",
        {
            "intent_ranking": [
                {"name": "nlu_fallback", "confidence": 1.0},
                {"name": "a", "confidence": 0.6},
                {"name": "b", "confidence": 0.3},
            ]
        },
    )
    assert (ranked.top, ranked.confidence, ranked.runner_up) == ("a", 0.6, 0.3)


def test_the_table_marks_the_chosen_point() -> None:
    points = curve_script.curve([p("a", "a", 0.95)], cost=1.0)
    chosen = curve_script.best(points)
    lines = [line for line in curve_script.table(points, chosen).splitlines() if "←" in line]
    assert len(lines) == 1
