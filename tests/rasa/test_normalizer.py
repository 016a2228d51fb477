"""Tests of shopbot_rasa/nlu/normalizer.py: the TextNormalizer component."""

from __future__ import annotations

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from shopbot_rasa.nlu.normalizer import TEXT_ORIGINAL, TextNormalizer


def make(tmp_path: object) -> TextNormalizer:
    context = ExecutionContext(GraphSchema({}), "test")
    return TextNormalizer.create({}, LocalModelStorage(tmp_path), Resource("n"), context)  # type: ignore[arg-type]


def test_messages_are_normalised_and_keep_the_original(tmp_path: object) -> None:
    message = Message(data={"text": "退貨？？？  ＸＬ码"})
    make(tmp_path).process([message])
    assert message.get("text") == "退货? XL码"
    assert message.get(TEXT_ORIGINAL) == "退貨？？？  ＸＬ码"
    assert TEXT_ORIGINAL in message.output_properties


def test_unchanged_messages_get_no_copy(tmp_path: object) -> None:
    message = Message(data={"text": "我要退货"})
    make(tmp_path).process([message])
    assert message.get("text") == "我要退货"
    assert message.get(TEXT_ORIGINAL) is None


def test_training_annotations_move_with_the_text(tmp_path: object) -> None:
    text = "訂單號：　２０２６１１０１００００１ 衣服太大了"
    start = text.index("２")
    example = Message(
        data={
            "text": text,
            "intent": "size_issue",
            "entities": [
                {"entity": "order_id", "start": start, "end": start + 13, "value": "2026110100001"}
            ],
        }
    )
    data = make(tmp_path).process_training_data(TrainingData([example]))
    (result,) = data.training_examples
    assert result.get("text") == "订单号: 2026110100001 衣服太大了"
    (found,) = result.get("entities")
    assert result.get("text")[found["start"] : found["end"]] == "2026110100001"
    assert found["value"] == "2026110100001"


def test_an_annotation_that_vanishes_is_dropped(tmp_path: object) -> None:
    example = Message(
        data={
            "text": "好\x00\x01的",
            "intent": "affirm",
            "entities": [{"entity": "color", "start": 1, "end": 3, "value": "x"}],
        }
    )
    make(tmp_path).process_training_data(TrainingData([example]))
    assert example.get("text") == "好的"
    assert example.get("entities") == []


def test_messages_without_text_are_left_alone(tmp_path: object) -> None:
    message = Message(data={"intent": "greet"})
    make(tmp_path).process([message])
    assert message.get("text") is None


def test_button_payloads_reach_the_regex_handler_untouched(tmp_path: object) -> None:
    payload = '/provide_order_id{"order_id": "２０２６", "note": ""}'
    message = Message(data={"text": payload})
    make(tmp_path).process([message])
    assert message.get("text") == payload
