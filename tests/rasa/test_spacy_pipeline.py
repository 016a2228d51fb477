"""Tests of shopbot_rasa/spacy_pipeline.py: the built pipeline finds entities."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Tuple

import pytest
import spacy

from shopbot_rasa.spacy_pipeline import build, fingerprint, main, phrase_patterns, read_lookups

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nlp(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("spacy") / "zh"
    build(out, ROOT / "data" / "nlu" / "lookups", ROOT / "data" / "jieba")
    return spacy.load(out)


def ents(nlp: Any, text: str) -> List[Tuple[str, str]]:
    return [(ent.text, ent.label_) for ent in nlp(text).ents]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的订单2026110100001的衣服太大了", ("2026110100001", "order_id")),
        ("运单号SF1234567890", ("SF1234567890", "tracking_no")),
        ("花了99元", ("99元", "amount")),
        ("退我两百块钱", ("两百块", "amount")),
        ("¥129.00", ("¥129.00", "amount")),
        ("等了三天了", ("三天", "duration")),
        ("过了15天还能退吗", ("15天", "duration")),
        ("两个多月了", ("两个多月", "duration")),
        ("38码的鞋", ("38码", "size")),
        ("XL码太大", ("XL码", "size")),
        ("花了九十九块", ("九十九块", "amount")),
        ("三块五一斤", ("三块五", "amount")),
        ("一个半月了", ("一个半月", "duration")),
        ("十几天了还没到", ("十几天", "duration")),
        ("48小时内发货", ("48小时", "duration")),
        ("半年了", ("半年", "duration")),
        ("买了个扫地机器人", ("扫地机器人", "product")),
        ("家电类的能退吗", ("家电", "product")),
        ("京东E卡充不进去", ("京东E卡", "product")),
    ],
)
def test_entities_are_found(nlp: Any, text: str, expected: Tuple[str, str]) -> None:
    assert expected in ents(nlp, text)


@pytest.mark.parametrize(
    "text", ["好几天了还没发货", "这几天", "前几天买的", "等了半天", "3号到的"]
)
def test_vague_time_words_are_no_duration(nlp: Any, text: str) -> None:
    assert not [label for _, label in ents(nlp, text) if label == "duration"]


def test_lookup_phrases_become_entities(nlp: Any) -> None:
    found = ents(nlp, "买的黑色羽绒服")
    assert ("黑色", "color") in found
    assert ("羽绒服", "product") in found


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "\x00\x01", "a" * 5000, "在吗"])
def test_odd_input_does_not_raise(nlp: Any, text: str) -> None:
    nlp(text)


def test_lookups_are_read_from_rasa_yaml(tmp_path: Path) -> None:
    path = tmp_path / "lookups.yml"
    path.write_text(
        'version: "3.1"\nnlu:\n- lookup: color\n  examples: |\n    - 黑色\n    - 白色\n'
        "- lookup: courier\n  examples: |\n    - 顺丰\n",
        encoding="utf-8",
    )
    tables = read_lookups(path)
    assert tables == {"color": ["黑色", "白色"]}
    assert phrase_patterns(tables)[0] == {"label": "color", "pattern": "白色"}


def test_a_folder_of_lookup_files_is_read_and_categories_are_products(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(
        'version: "3.1"\nnlu:\n- lookup: product\n  examples: |\n    - 衣服\n', encoding="utf-8"
    )
    (tmp_path / "b.yml").write_text(
        'version: "3.1"\nnlu:\n- lookup: category\n  examples: |\n    - 家电\n', encoding="utf-8"
    )
    assert read_lookups(tmp_path) == {"product": ["衣服", "家电"]}


def test_rebuild_only_when_inputs_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lookups = tmp_path / "lookups.yml"
    lookups.write_text('version: "3.1"\nnlu: []\n', encoding="utf-8")
    userdict = tmp_path / "jieba"
    userdict.mkdir()
    args = ["--out", str(tmp_path / "out"), "--lookups", str(lookups), "--userdict", str(userdict)]
    before = fingerprint([lookups])
    assert main(args) == 0 and "built" in capsys.readouterr().out
    assert main(args) == 0 and "up to date" in capsys.readouterr().out
    lookups.write_text(
        'version: "3.1"\nnlu:\n- lookup: color\n  examples: |\n    - 红色\n', encoding="utf-8"
    )
    assert fingerprint([lookups]) != before
    assert main(args) == 0 and "built" in capsys.readouterr().out
