"""The project's NLU pipeline (config.yml) end to end on a small trained model.

The model is trained once per session from config.yml with one DIET epoch and
a handful of examples plus the real lookup tables: what is tested is the
composition (normalisation → spaCy entities → context and values → fallback),
not the classifier's accuracy, which ``make test`` measures on the dev set.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from shopbot_rasa.spacy_pipeline import build

ROOT = Path(__file__).resolve().parents[2]

EXAMPLES = {
    "greet": ["你好", "在吗", "亲在不在", "hello", "客服在吗"],
    "size_issue": ["衣服太大了", "鞋子小了一码", "尺码不合适", "裤子偏小穿不上", "XL码太大"],
    "logistics_query": ["快递到哪了", "还没发货", "物流不动了", "什么时候到", "包裹丢了吗"],
    "refund_request": ["我要退款", "退钱", "不想要了退款", "取消订单退钱", "能退款吗"],
}


@pytest.fixture(scope="module")
def parse(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    work = tmp_path_factory.mktemp("nlu")
    spacy_dir = build(work / "spacy_zh", ROOT / "data" / "nlu" / "lookups", ROOT / "data" / "jieba")
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    for component in config["pipeline"]:
        if component["name"] == "SpacyNLP":
            component["model"] = str(spacy_dir)
        if component["name"] == "JiebaTokenizer":
            component["dictionary_path"] = str(ROOT / "data" / "jieba")
        if component["name"] == "DIETClassifier":
            component["epochs"] = 1
    (work / "config.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    data = work / "data"
    data.mkdir()
    blocks = [
        {"intent": intent, "examples": "".join(f"- {text}\n" for text in texts)}
        for intent, texts in EXAMPLES.items()
    ]
    (data / "intents.yml").write_text(
        yaml.safe_dump({"version": "3.1", "nlu": blocks}, allow_unicode=True)
    )
    for lookups in (ROOT / "data" / "nlu" / "lookups").glob("*.yml"):
        (data / lookups.name).write_text(lookups.read_text(encoding="utf-8"), encoding="utf-8")
    model = train_nlu(str(work / "config.yml"), str(data), str(work / "models"))
    assert model, "training produced no model"
    agent = Agent.load(model)

    def run(text: str) -> Dict[str, Any]:
        return asyncio.run(agent.parse_message(text))

    return run


def entities(result: Dict[str, Any]) -> List[tuple[str, Any]]:
    return [(e["entity"], e["value"]) for e in result["entities"]]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\t\n",
        "😭😭😭",
        "\x00\x01\x1b[31m",
        "衣服太大了" * 1000,
        "Ｈｅｌｌｏ 退貨 🙏 ok?",
    ],
)
def test_bad_input_gets_an_intent_and_never_raises(parse: Any, text: str) -> None:
    result = parse(text)
    assert isinstance(result["intent"]["name"], str)
    assert 0.0 <= result["intent"]["confidence"] <= 1.0
    assert isinstance(result["entities"], list)


def test_control_characters_only_fall_back(parse: Any) -> None:
    assert parse("\x00\x01\x02")["intent"]["name"] == "nlu_fallback"


def test_the_text_is_normalised_and_the_original_kept(parse: Any) -> None:
    result = parse("ＸＬ碼太大了！！！")
    assert result["text"] == "XL码太大了!"
    assert result["text_original"] == "ＸＬ碼太大了！！！"
    assert ("size", "XL码") in entities(result)


def test_entities_come_with_normalised_values(parse: Any) -> None:
    result = parse("快递单号73100123456789 等了两个多月 花了九十九块 买的黑色羽绒服")
    found = entities(result)
    assert ("tracking_no", "73100123456789") in found
    assert ("duration", 60) in found
    assert ("amount", "99.00") in found
    assert ("color", "黑色") in found
    assert ("product", "羽绒服") in found
    duration = next(e for e in result["entities"] if e["entity"] == "duration")
    assert duration["additional_info"]["text"] == "两个多月"


def test_order_ids_and_vague_durations(parse: Any) -> None:
    found = entities(parse("订单2026110100001 好几天了还没到"))
    assert found == [("order_id", "2026110100001")]


def test_button_payloads_keep_their_intent_and_entities(parse: Any) -> None:
    result = parse('/size_issue{"order_id": "2026110100001"}')
    assert result["intent"]["name"] == "size_issue"
    assert ("order_id", "2026110100001") in entities(result)
