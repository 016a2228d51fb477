"""Tests of bot/evidence.py: content sniffing, upload checks, the checklist."""

from __future__ import annotations

import pytest

from bot.evidence import (
    BAD_ITEM,
    BAD_TYPE,
    EMPTY,
    OK,
    TOO_LARGE,
    check_upload,
    checklist,
    choose_item,
    is_open_claim,
    is_stored_name,
    sniff_mime,
)
from tests.bot.evidence_samples import GIF, HTML, JPEG, PDF, PNG, RIFF_WAVE, SVG, WEBP


@pytest.mark.parametrize(
    ("data", "mime"), [(JPEG, "image/jpeg"), (PNG, "image/png"), (WEBP, "image/webp")]
)
def test_accepted_types_are_recognised_by_content(data: bytes, mime: str) -> None:
    assert sniff_mime(data[:12]) == mime
    assert check_upload(data, 1024) == (OK, mime)


@pytest.mark.parametrize("data", [GIF, SVG, HTML, PDF, RIFF_WAVE, b"\xff\xd8", b"RIFF", b"x"])
def test_other_content_is_a_bad_type(data: bytes) -> None:
    assert sniff_mime(data[:12]) is None
    assert check_upload(data, 1024) == (BAD_TYPE, None)


def test_empty_and_oversized_uploads() -> None:
    assert check_upload(b"", 1024) == (EMPTY, None)
    assert check_upload(JPEG, len(JPEG)) == (OK, "image/jpeg")
    assert check_upload(JPEG, len(JPEG) - 1) == (TOO_LARGE, None)


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "..",
        "/etc/passwd",
        "0123456789abcdef0123456789abcdef.jpg\x00.png",
        "0123456789abcdef0123456789abcdef.gif",
        "0123456789ABCDEF0123456789ABCDEF.jpg",
        "../0123456789abcdef0123456789abcdef.jpg",
        "0123456789abcdef0123456789abcdef.jpg/..",
        "",
    ],
)
def test_only_generated_names_are_stored_names(name: str) -> None:
    assert not is_stored_name(name)


def test_a_generated_name_is_a_stored_name() -> None:
    assert is_stored_name("0123456789abcdef0123456789abcdef.webp")


@pytest.mark.parametrize(
    ("status", "open_"),
    [
        ("requested", True),
        ("seller_signed", True),
        ("escalated", True),
        ("refunded", False),
        ("closed", False),
        ("rejected", False),
        ("withdrawn", False),
    ],
)
def test_open_claims(status: str, open_: bool) -> None:
    assert is_open_claim(status) is open_


def test_checklist_counts_the_photos_of_each_item() -> None:
    items = ["实物对比图", "质量检测凭证"]
    result = checklist(items, ["实物对比图", None, "实物对比图"])
    assert [(i.item, i.files, i.ticked) for i in result] == [
        ("实物对比图", 2, True),
        ("质量检测凭证", 0, False),
    ]


def test_choose_item_takes_the_named_or_the_first_open_item() -> None:
    items = ["实物对比图", "质量检测凭证"]
    assert choose_item(items, [], None) == (OK, "实物对比图")
    assert choose_item(items, ["实物对比图"], None) == (OK, "质量检测凭证")
    assert choose_item(items, items, None) == (OK, None)
    assert choose_item(items, [], "质量检测凭证") == (OK, "质量检测凭证")
    assert choose_item(items, [], "别的") == (BAD_ITEM, None)
    assert choose_item([], [], None) == (OK, None)
