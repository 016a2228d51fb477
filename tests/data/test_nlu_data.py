"""Checks of the NLU training data: coverage, no duplicates, no eval leakage."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Dict, Set

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EVAL_DIR = ROOT.parent / "shared" / "eval"
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def plain(example: str) -> str:
    """The example's text without entity annotations."""
    return ANNOTATION.sub(r"\1", example).strip()


def examples_by_intent(folder: Path) -> Dict[str, Set[str]]:
    found: Dict[str, Set[str]] = defaultdict(set)
    for path in sorted(folder.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in document.get("nlu", []) or []:
            if "intent" in block:
                for line in str(block.get("examples", "")).splitlines():
                    if line.strip().startswith("- "):
                        found[block["intent"]].add(plain(line.strip()[2:]))
    return found


def domain_intents() -> Set[str]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return set(domain["intents"])


def test_every_domain_intent_has_at_least_ten_examples() -> None:
    data = examples_by_intent(ROOT / "data" / "nlu")
    assert set(data) == domain_intents()
    thin = {intent: len(texts) for intent, texts in data.items() if len(texts) < 10}
    assert not thin


def test_no_example_is_labelled_with_two_intents() -> None:
    seen: Dict[str, str] = {}
    clashes = []
    for intent, texts in examples_by_intent(ROOT / "data" / "nlu").items():
        for text in texts:
            if text in seen and seen[text] != intent:
                clashes.append((text, seen[text], intent))
            seen[text] = intent
    assert not clashes


def test_the_intent_catalogue_is_the_domain() -> None:
    catalogue = (ROOT.parent / "shared" / "spec" / "intents.md").read_text(encoding="utf-8")
    names = set(re.findall(r"^\| ([a-z_]+) \|", catalogue, flags=re.MULTILINE))
    names -= {"intent", "entity"}
    entities = {"order_id", "product", "color", "size", "duration", "tracking_no", "amount"}
    assert names - entities == domain_intents()


@pytest.mark.skipif(not EVAL_DIR.is_dir(), reason="../shared/eval is not beside this checkout")
def test_no_evaluation_utterance_is_in_the_training_data() -> None:
    training = set().union(*examples_by_intent(ROOT / "data").values())
    evaluation = set().union(*examples_by_intent(EVAL_DIR).values())
    # The same line as the before-stop hook: utterances of four characters or
    # more (two-character words like 你好 are everyday language, not copies).
    assert not {text for text in training & evaluation if len(text) >= 4}
