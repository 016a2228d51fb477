"""Buyer message text before it reaches NLU, shared by every entrypoint.

Standard library only: the Rasa-side channels (Python 3.10) use it too.
"""

from __future__ import annotations

import re

#: Lone UTF-16 surrogates: JSON can carry them (``"\\ud83d"``, half an emoji
#: cut by a client), UTF-8, the databases and the tracker stores cannot.
_SURROGATES = re.compile("[\ud800-\udfff]")

#: Longest message passed on to NLU; longer ones keep their end, where buyers
#: put the request.
MAX_MESSAGE_LENGTH = 2000


def drop_surrogates(text: str) -> str:
    """Return ``text`` without lone surrogates, so that it can be encoded as UTF-8.

    Args:
        text: Text decoded from JSON, which may hold ``\\ud800``-style escapes
            that are no characters.

    Returns:
        The text without them (everything else kept).
    """
    return _SURROGATES.sub("", text)


def clip_message(text: str) -> str:
    """Bound a message's length, keeping its end.

    Args:
        text: The raw message.

    Returns:
        The message without NUL and other control characters (newlines and
        tabs become spaces) and without lone surrogates, at most
        :data:`MAX_MESSAGE_LENGTH` characters.
    """
    cleaned = "".join(
        " " if ch in "\r\n\t" else ch
        for ch in drop_surrogates(text)
        if ch in "\r\n\t" or (ord(ch) >= 32 and ord(ch) != 127)
    )
    if len(cleaned) > MAX_MESSAGE_LENGTH:
        cleaned = cleaned[-MAX_MESSAGE_LENGTH:]
    return cleaned
