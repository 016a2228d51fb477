"""Tests of bot/cues.py: buyer facts read from what the buyer wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cues import CuesError, load_cues, read_facts
from bot.policy.table import load_table

CUES = load_cues()


@pytest.mark.parametrize(
    ("texts", "field", "value"),
    [
        (["衣服有线头"], "complaint", "loose_threads"),  # Q1 code
        (["屏幕色差好大"], "complaint", "screen_colour_difference"),  # Q2 code
        (["没拍照"], "has_photos", False),  # Q5
        (["拍了照片的", "有照片"], "has_photos", True),
        (["吊牌剪了"], "goods_intact", False),  # N1
        (["没拍照，用到付寄回"], "postage_due", True),  # a negation does not cross a comma
        (["我有法院判决书"], "penalty_decision", True),  # N7
        (["卖家拒绝退款"], "seller_refused", True),  # W7
        (["运费怎么算"], "agreed_payer", None),  # no agreement said
        (["卖家答应出运费"], "agreed_payer", "seller"),  # F6
        (["没有到付"], "postage_due", False),  # negated right before
        (["", "   "], "complaint", None),
    ],
)
def test_cues_set_facts(texts: list[str], field: str, value: object) -> None:
    assert getattr(read_facts(CUES, texts), field) == value


def test_the_latest_message_wins() -> None:
    assert read_facts(CUES, ["吊牌剪了", "吊牌还在"]).goods_intact is True


def test_shipped_cues_use_the_rule_tables_complaint_codes() -> None:
    CUES.check_against(load_table())


def test_a_broken_cue_file_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "cues.yml"
    bad.write_text("negations: []\ncomplaints: {}\nfacts: {flying: [飞]}\nagreed_payer: {}\n")
    with pytest.raises(CuesError):
        load_cues(bad)
