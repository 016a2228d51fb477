"""Tests of shopbot_rasa/nlu/text.py: the canonical form of buyer messages."""

from __future__ import annotations

import pytest

from shopbot_rasa.nlu.text import normalize, normalize_text, to_simplified


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＸＬ码太大了", "XL码太大了"),
        ("订单号１２３４５６７８９０１２３", "订单号1234567890123"),
        ("退貨退款", "退货退款"),
        ("發票呢？謝謝", "发票呢?谢谢"),
        ("衣服，太大了；能退吗？", "衣服,太大了;能退吗?"),
        ("在吗？？？", "在吗?"),
        ("好的！！！！", "好的!"),
        ("等了三天了。。。", "等了三天了。"),
        ("好吧...", "好吧…"),
        ("好吧……", "好吧…"),
        ("  我   要\t退货 \n", "我 要 退货"),
        ("你好\u3000客服", "你好 客服"),
        ("ａｂｃ　ｏｋ", "abc ok"),
        ("¥99", "¥99"),
        ("￥99.00", "¥99.00"),
        ("《说明书》、保修卡", "《说明书》、保修卡"),
    ],
)
def test_messages_are_folded_to_one_form(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_emoji_are_kept_as_signal() -> None:
    assert normalize_text("😡😡 差评") == "😡😡 差评"
    family = "👨\u200d👩\u200d👧"
    assert normalize_text(family) == family


def test_control_and_format_characters_are_dropped() -> None:
    assert normalize_text("退\x00款\x07\u200b吧\ufeff") == "退款吧"


@pytest.mark.parametrize("raw", ["", "   ", "\t\n\r", "\x00\x01\x02"])
def test_empty_or_blank_text_becomes_empty(raw: str) -> None:
    result = normalize(raw)
    assert result.text == ""
    assert result.origins == ()


def test_long_text_is_handled_whole() -> None:
    raw = "衣服太大了" * 1000
    assert normalize_text(raw) == raw


def test_lone_surrogates_do_not_raise() -> None:
    assert normalize_text("退\ud800款") == "退款"


def test_offsets_follow_the_characters() -> None:
    raw = "订单　　号：１２３４５ 好"
    result = normalize(raw)
    assert result.text == "订单 号:12345 好"
    start = raw.index("１")
    span = result.span(start, start + 5)
    assert span is not None
    assert result.text[span[0] : span[1]] == "12345"


def test_a_span_that_vanishes_has_no_image() -> None:
    result = normalize("好\x00\x00的")
    assert result.span(1, 3) is None


def test_simplified_text_keeps_its_length() -> None:
    assert to_simplified("乾淨的衣服") == "干净的衣服"
    assert to_simplified("我要退货 ok") == "我要退货 ok"


def test_long_runs_of_one_character_are_cut_but_ids_are_not() -> None:
    assert normalize_text("啊" * 5000) == "啊啊啊"
    assert normalize_text("太大了了了了了😀😀😀😀") == "太大了了了😀😀😀"
    assert (
        normalize_text("订单2026111000001 运单SF1000000001") == "订单2026111000001 运单SF1000000001"
    )
