"""Tests of bot/messages.py: what every entrypoint passes on to NLU."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.messages import MAX_MESSAGE_LENGTH, clip_message, drop_surrogates
from tests.strategies import any_text, fuzz, huge_text, texts


def test_lone_surrogates_are_dropped_and_real_characters_kept() -> None:
    # "\ud83d" is half of 😀 (a client cut the pair): no character, no UTF-8.
    assert drop_surrogates("衣服\ud83d大了\udc00") == "衣服大了"
    assert drop_surrogates("😀𐀀") == "😀𐀀"
    assert clip_message("a\ud800\x00b\nc") == "ab c"


@fuzz(300)
@given(text=st.one_of(texts, any_text, huge_text))
def test_any_text_becomes_bounded_printable_utf8_keeping_its_end(text: str) -> None:
    clipped = clip_message(text)
    clipped.encode("utf-8")  # the databases, tracker stores and JSON bodies can hold it
    assert len(clipped) <= MAX_MESSAGE_LENGTH
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in clipped)
    kept = "".join(
        " " if ch in "\r\n\t" else ch
        for ch in text
        if not 0xD800 <= ord(ch) <= 0xDFFF
        and (ch in "\r\n\t" or (ord(ch) >= 32 and ord(ch) != 127))
    )
    assert clipped == kept[-MAX_MESSAGE_LENGTH:]
