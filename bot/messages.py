"""Buyer message text before it reaches NLU, shared by every entrypoint.

Standard library only: the Rasa-side channels (Python 3.10) use it too.
"""

from __future__ import annotations

#: Longest message passed on to NLU; longer ones keep their end, where buyers
#: put the request.
MAX_MESSAGE_LENGTH = 2000


def clip_message(text: str) -> str:
    """Bound a message's length, keeping its end.

    Args:
        text: The raw message.

    Returns:
        The message without NUL and other control characters (newlines and
        tabs become spaces), at most :data:`MAX_MESSAGE_LENGTH` characters.
    """
    cleaned = "".join(
        " " if ch in "\r\n\t" else ch
        for ch in text
        if ch in "\r\n\t" or (ord(ch) >= 32 and ord(ch) != 127)
    )
    if len(cleaned) > MAX_MESSAGE_LENGTH:
        cleaned = cleaned[-MAX_MESSAGE_LENGTH:]
    return cleaned
