"""Normalisation of buyer messages before tokenisation, with an offset map.

What buyers type varies in ways that carry no meaning for the classifier:
full-width letters and digits (ＸＬ码, １２３), traditional characters (退貨),
runs of whitespace and of the same punctuation mark (？？？, 。。。). This module
folds them into one canonical form:

* Unicode NFKC (full-width → half-width, compatibility characters), except
  that the Chinese marks without an ASCII twin (。、《》「」) stay as they are
  and the ellipsis stays one character (…);
* traditional → simplified Chinese with OpenCC (``t2s``);
* control and format characters dropped (the zero-width joiner of emoji
  sequences kept), every whitespace run folded to one space, ends stripped;
* a run of one other character cut to three (``啊啊啊啊啊`` → ``啊啊啊``;
  digits and ASCII letters are kept whole);
* a run of the same punctuation mark folded to one (``!!!`` → ``!``,
  ``...`` → ``…``).

Emoji are kept: they are signal (😡 is rarely a thank-you).

:func:`normalize` also returns, for every character of the original text,
where it went, so entity annotations of training examples can be moved to the
normalised text (:meth:`NormalizedText.span`).
"""

from __future__ import annotations

import dataclasses
import functools
import unicodedata
from typing import List, Optional, Tuple

#: Characters whose NFKC form would be odd in Chinese text: kept as written.
_KEEP = frozenset("。、《》「」『』【】〔〕〈〉…·")
#: Characters mapped explicitly before NFKC (values are the canonical form).
_MAP = {"\u3000": " ", "～": "~", "〜": "~", "—": "-", "－": "-", "﹏": "_"}
#: Zero-width joiner: part of emoji sequences such as 👨‍👩‍👧.
_ZWJ = "\u200d"


@dataclasses.dataclass(frozen=True)
class NormalizedText:
    """A normalised text and where each original character went.

    Attributes:
        text: The normalised text.
        origins: For each character of ``text``, the index of the original
            character it comes from.
    """

    text: str
    origins: Tuple[int, ...]

    def span(self, start: int, end: int) -> Optional[Tuple[int, int]]:
        """Map the original span ``[start, end)`` onto the normalised text.

        Args:
            start: Start offset in the original text.
            end: End offset (exclusive) in the original text.

        Returns:
            The span in the normalised text, or ``None`` when nothing of the
            original span survived normalisation.
        """
        inside = [i for i, origin in enumerate(self.origins) if start <= origin < end]
        if not inside:
            return None
        return inside[0], inside[-1] + 1


@functools.lru_cache(maxsize=1)
def _converter() -> object:
    """The OpenCC traditional → simplified converter (built once, on first use)."""
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert traditional Chinese characters in ``text`` to simplified ones.

    The converter works phrase by phrase; when that would change the length
    (which would break the offset map), the text is converted character by
    character instead.

    Args:
        text: Any text; non-Chinese characters are left alone.

    Returns:
        The text with the same length and simplified characters.
    """
    converter = _converter()
    converted: str = converter.convert(text)  # type: ignore[attr-defined]
    if len(converted) == len(text):
        return converted
    pieces = [converter.convert(char) for char in text]  # type: ignore[attr-defined]
    return "".join(
        piece if len(piece) == 1 else char for piece, char in zip(pieces, text, strict=True)
    )


def _is_dropped(char: str) -> bool:
    """Whether ``char`` is a control, format or surrogate character to drop."""
    if char == _ZWJ:
        return False
    category = unicodedata.category(char)
    return category in ("Cc", "Cf", "Cs") and not char.isspace()


def _width_fold(char: str) -> str:
    """Full-width → half-width and compatibility folding of one character."""
    if char in _KEEP:
        return char
    if char in _MAP:
        return _MAP[char]
    if char.isspace():
        return " "
    folded = unicodedata.normalize("NFKC", char)
    if folded == "...":
        return "…"
    return folded


def _is_punctuation(char: str) -> bool:
    """Whether ``char`` is punctuation or a symbol whose repetition adds nothing."""
    return unicodedata.category(char)[0] == "P" or char in "~^`|"


#: Longest run of one character kept (啊啊啊啊啊… → 啊啊啊); digits and ASCII
#: letters are never folded (order ids and waybills repeat digits).
MAX_RUN = 3


def _is_run(folded: List[Tuple[str, int]], char: str) -> bool:
    """Whether ``char`` would make a run longer than :data:`MAX_RUN`."""
    if char.isascii() and char.isalnum():
        return False
    tail = folded[-MAX_RUN:]
    return len(tail) == MAX_RUN and all(kept == char for kept, _ in tail)


def normalize(text: str) -> NormalizedText:
    """Normalise a message (see the module docstring); never raises on text.

    Args:
        text: The message as the buyer typed it (any length, any characters).

    Returns:
        The normalised text with its offset map.
    """
    chars: List[Tuple[str, int]] = []
    for index, char in enumerate(text):
        if _is_dropped(char):
            continue
        chars.extend((piece, index) for piece in _width_fold(char))
    simplified = to_simplified("".join(char for char, _ in chars))
    chars = [(new, origin) for new, (_, origin) in zip(simplified, chars, strict=True)]

    folded: List[Tuple[str, int]] = []
    for char, origin in chars:
        previous = folded[-1][0] if folded else ""
        if char == " " and (not folded or previous == " "):
            continue
        if char == "." and previous in ".…" and folded:
            folded[-1] = ("…", folded[-1][1])
            continue
        if _is_punctuation(char) and char == previous:
            continue
        if _is_run(folded, char):
            continue
        folded.append((char, origin))
    while folded and folded[-1][0] == " ":
        folded.pop()
    return NormalizedText(
        text="".join(char for char, _ in folded),
        origins=tuple(origin for _, origin in folded),
    )


def normalize_text(text: str) -> str:
    """Return only the normalised text of :func:`normalize`."""
    return normalize(text).text
