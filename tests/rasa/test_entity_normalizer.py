"""Tests of shopbot_rasa/nlu/entity_normalizer.py: context labels and values."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from shopbot_rasa.nlu.entity_normalizer import EntityContext, EntityNormalizer, relabel, with_value

CONTEXT = EntityContext(
    waybill=["快递单号", "运单号", "单号", "顺丰"],
    phone=["电话", "手机号"],
    order=["订单号", "订单"],
)


def entity(text: str, value: str, label: str) -> Dict[str, Any]:
    start = text.index(value)
    return {"entity": label, "start": start, "end": start + len(value), "value": value}


@pytest.mark.parametrize(
    ("text", "number", "label"),
    [
        ("快递单号73100123456789查一下", "73100123456789", "tracking_no"),
        ("运单号: 73100123456789", "73100123456789", "tracking_no"),
        ("顺丰 SF的号是 431234567890", "431234567890", "order_id"),
        ("顺丰431234567890到哪了", "431234567890", "tracking_no"),
        ("订单号2026110100001", "2026110100001", "order_id"),
        ("我的订单2026110100001的衣服太大了", "2026110100001", "order_id"),
        ("2026110100001", "2026110100001", "order_id"),
    ],
)
def test_digit_strings_are_labelled_by_the_words_before_them(
    text: str, number: str, label: str
) -> None:
    (result,) = relabel(text, [entity(text, number, "order_id")], CONTEXT)
    assert result["entity"] == label
    assert result["value"] == number


def test_the_longer_context_word_wins() -> None:
    text = "订单号是2026110100001"
    assert relabel(text, [entity(text, "2026110100001", "order_id")], CONTEXT)[0]["entity"] == (
        "order_id"
    )


def test_phone_numbers_are_no_entity() -> None:
    text = "我电话13812345678 订单2026110100001"
    entities = [entity(text, "13812345678", "order_id"), entity(text, "2026110100001", "order_id")]
    assert [e["value"] for e in relabel(text, entities, CONTEXT)] == ["2026110100001"]


def test_other_entities_are_not_relabelled() -> None:
    text = "快递单号 黑色"
    original = entity(text, "黑色", "color")
    assert relabel(text, [original], CONTEXT) == [original]


def test_durations_get_days_and_keep_their_text() -> None:
    result = with_value(entity("等了两个多月了", "两个多月", "duration"))
    assert result is not None
    assert result["value"] == 60
    assert result["additional_info"] == {
        "text": "两个多月",
        "days": 60,
        "approximate": True,
        "unit": "月",
    }


def test_vague_durations_are_dropped() -> None:
    assert with_value(entity("等了半天", "半天", "duration")) is None


def test_amounts_get_two_decimal_places() -> None:
    result = with_value(entity("花了九十九块", "九十九块", "amount"))
    assert result is not None
    assert result["value"] == "99.00"
    assert result["additional_info"]["text"] == "九十九块"


def test_an_unreadable_amount_keeps_its_text() -> None:
    original = entity("退我很多钱", "很多钱", "amount")
    assert with_value(original) == original


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def make(storage: LocalModelStorage) -> EntityNormalizer:
    context = ExecutionContext(GraphSchema({}), "test")
    return EntityNormalizer.create({}, storage, Resource("entity_normalizer"), context)


def test_context_words_come_from_lookup_tables_and_survive_persisting(
    storage: LocalModelStorage,
) -> None:
    data = TrainingData(
        lookup_tables=[
            {"name": "waybill_context", "elements": ["运单号"]},
            {"name": "courier", "elements": ["中通"]},
            {"name": "phone_context", "elements": ["电话"]},
            {"name": "order_context", "elements": ["订单号"]},
            {"name": "product", "elements": ["衣服"]},
        ]
    )
    make(storage).train(data)
    context = ExecutionContext(GraphSchema({}), "test")
    loaded = EntityNormalizer.load({}, storage, Resource("entity_normalizer"), context)
    assert loaded.context.as_dict() == {
        "waybill": ["运单号", "中通"],
        "phone": ["电话"],
        "order": ["订单号"],
    }


def test_process_rewrites_the_entities_of_messages(storage: LocalModelStorage) -> None:
    component = make(storage)
    component.context = CONTEXT
    text = "运单号73100123456789 等了三天 花了九十九块 等了好几天"
    entities: List[Dict[str, Any]] = [
        entity(text, "73100123456789", "order_id"),
        entity(text, "三天", "duration"),
        entity(text, "九十九块", "amount"),
        entity(text, "好几天", "duration"),
    ]
    message = Message(data={"text": text, "entities": entities})
    empty = Message(data={"text": "你好"})
    component.process([message, empty])
    found = [(e["entity"], e["value"]) for e in message.get("entities")]
    assert found == [("tracking_no", "73100123456789"), ("duration", 3), ("amount", "99.00")]
    assert all("EntityNormalizer" in e["processors"] for e in message.get("entities"))
    assert empty.get("entities") is None


def test_a_model_without_stored_words_still_loads(storage: LocalModelStorage) -> None:
    context = ExecutionContext(GraphSchema({}), "test")
    loaded = EntityNormalizer.load({}, storage, Resource("missing"), context)
    assert loaded.context.as_dict() == {"waybill": [], "phone": [], "order": []}
