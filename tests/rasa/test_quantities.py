"""Tests of shopbot_rasa/nlu/quantities.py: durations in days, amounts in yuan."""

from __future__ import annotations

from decimal import Decimal
from typing import Optional

import pytest

from shopbot_rasa.nlu.quantities import parse_amount, parse_duration, read_number


@pytest.mark.parametrize(
    ("text", "days", "approximate"),
    [
        ("三天", 3, False),
        ("15天", 15, False),
        ("15 天", 15, False),
        ("两个多月", 60, True),
        ("一个半月", 45, False),
        ("半年", 182.5, False),
        ("一年半", 547.5, False),
        ("三个星期", 21, False),
        ("两周", 14, False),
        ("十几天", 15, True),
        ("48小时", 2, False),
        ("三点五天", 3.5, False),
    ],
)
def test_durations_are_read_in_days(text: str, days: float, approximate: bool) -> None:
    duration = parse_duration(text)
    assert duration is not None
    assert duration.as_value() == days
    assert duration.approximate is approximate


def test_whole_days_are_integers() -> None:
    duration = parse_duration("三天")
    assert duration is not None and isinstance(duration.as_value(), int)


@pytest.mark.parametrize("text", ["几天", "好几天", "几个月", "半天", "3号", "0天", "天", "三块"])
def test_vague_or_other_phrases_are_no_duration(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("九十九块", "99.00"),
        ("99元", "99.00"),
        ("¥129.00", "129.00"),
        ("￥ 129", "129.00"),
        ("三块五", "3.50"),
        ("两百块钱", "200.00"),
        ("1,299元", "1299.00"),
        ("一百二十九点五元", "129.50"),
        ("1.2万元", "12000.00"),
        ("99.999元", "100.00"),
    ],
)
def test_amounts_are_read_in_yuan(text: str, amount: str) -> None:
    assert parse_amount(text) == Decimal(amount)


@pytest.mark.parametrize("text", ["", "块", "很多钱", "元元"])
def test_unreadable_amounts_have_no_value(text: str) -> None:
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    ("text", "number"), [("两百", 200), ("一千二", 1200), ("12.5", 12.5), ("abc", None), ("", None)]
)
def test_numerals_are_read_by_cn2an(text: str, number: Optional[float]) -> None:
    value = read_number(text)
    assert (value is None) if number is None else (value == Decimal(str(number)))
