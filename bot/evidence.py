"""Evidence photos (凭证): what an upload is, decided from its bytes alone (pure).

A buyer's photo is accepted when its content is a JPEG, PNG or WebP image
(recognised by its magic bytes: the file name and the ``Content-Type`` the
client sends are never trusted), not empty and within the size limit. Each
accepted photo may tick off one item of its claim's evidence checklist.

Outcome codes (the adapters map them to the Chinese texts of
``data/evidence/messages.yml``): :data:`OUTCOMES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Tuple

#: ``attach_evidence`` outcomes: stored, or why nothing was stored.
OK = "ok"
NO_OPEN_CLAIM = "no_open_claim"
BAD_TYPE = "bad_type"
TOO_LARGE = "too_large"
EMPTY = "empty"
BAD_ITEM = "bad_item"
OUTCOMES = (OK, NO_OPEN_CLAIM, BAD_TYPE, TOO_LARGE, EMPTY, BAD_ITEM)

#: Claim statuses after which no evidence is taken (the claim is over).
FINISHED_CLAIM_STATUSES = frozenset({"refunded", "closed", "rejected", "withdrawn"})

#: The file extension of each accepted type.
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
#: Bytes needed to recognise every accepted type.
SNIFF_BYTES = 12

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
#: Generated stored names: 32 hex digits (a UUID4) and an accepted extension.
_STORED_NAME_RE = re.compile(r"[0-9a-f]{32}\.(?:jpg|png|webp)")


def sniff_mime(head: bytes) -> Optional[str]:
    """Recognise an accepted image type by the first bytes of its content.

    Args:
        head: The start of the file (at least :data:`SNIFF_BYTES` to
            recognise WebP).

    Returns:
        ``image/jpeg``, ``image/png`` or ``image/webp``; None for anything
        else.
    """
    if head.startswith(_PNG_MAGIC):
        return "image/png"
    if head.startswith(_JPEG_MAGIC):
        return "image/jpeg"
    if len(head) >= SNIFF_BYTES and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_upload(data: bytes, max_bytes: int) -> Tuple[str, Optional[str]]:
    """Decide whether an upload's content may be stored.

    Args:
        data: The uploaded bytes.
        max_bytes: The size limit.

    Returns:
        ``(OK, mime)`` when acceptable, else ``(outcome, None)`` with
        :data:`EMPTY`, :data:`TOO_LARGE` or :data:`BAD_TYPE`.
    """
    if not data:
        return EMPTY, None
    if len(data) > max_bytes:
        return TOO_LARGE, None
    mime = sniff_mime(data[:SNIFF_BYTES])
    if mime is None:
        return BAD_TYPE, None
    return OK, mime


def is_stored_name(name: str) -> bool:
    """Tell whether ``name`` is a generated stored name (no paths, no tricks)."""
    return isinstance(name, str) and _STORED_NAME_RE.fullmatch(name) is not None


def is_open_claim(status: str) -> bool:
    """Tell whether a claim in ``status`` still takes evidence."""
    return status not in FINISHED_CLAIM_STATUSES


@dataclass(frozen=True)
class ChecklistItem:
    """One item of a claim's evidence checklist.

    Attributes:
        item: What is asked for (from the rule table).
        files: How many photos were attached for it.
    """

    item: str
    files: int

    @property
    def ticked(self) -> bool:
        """Whether at least one photo was attached for it."""
        return self.files > 0


def checklist(items: Sequence[str], attached: Iterable[Optional[str]]) -> Tuple[ChecklistItem, ...]:
    """Return a claim's checklist with what the attached photos tick off.

    Args:
        items: The claim's evidence checklist, in order.
        attached: The item of every attached photo (None: no particular item).

    Returns:
        One entry per checklist item, in checklist order.
    """
    given = list(attached)
    return tuple(ChecklistItem(item, given.count(item)) for item in items)


def choose_item(
    items: Sequence[str], attached: Iterable[Optional[str]], wanted: Optional[str]
) -> Tuple[str, Optional[str]]:
    """Pick the checklist item a new photo ticks off.

    Args:
        items: The claim's evidence checklist.
        attached: The items of the photos attached before.
        wanted: The item the buyer named, if any.

    Returns:
        ``(OK, item)``: the named item, else the first one not yet ticked
        (None when all are, or the claim has no checklist); ``(BAD_ITEM,
        None)`` when the named item is not on the checklist.
    """
    if wanted is not None:
        return (OK, wanted) if wanted in items else (BAD_ITEM, None)
    done = set(attached)
    return OK, next((item for item in items if item not in done), None)


__all__ = [
    "BAD_ITEM",
    "BAD_TYPE",
    "EMPTY",
    "EXTENSIONS",
    "FINISHED_CLAIM_STATUSES",
    "NO_OPEN_CLAIM",
    "OK",
    "OUTCOMES",
    "SNIFF_BYTES",
    "TOO_LARGE",
    "ChecklistItem",
    "check_upload",
    "checklist",
    "choose_item",
    "is_open_claim",
    "is_stored_name",
    "sniff_mime",
]
