"""Bot messages read back from a conversation's tracker, shared by the channels.

The ``im`` channel replays the answer to a message it processed before; the
``shop`` channel serves ``GET /webhooks/shop/history``, from which the web
widget fetches what a human agent wrote while the conversation was handed
off (bot events with metadata ``{"agent": true}``, added through Rasa's
tracker events API by the agent assistant).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Optional, Tuple

#: Most messages one history answer holds (the oldest after the cursor first).
MAX_HISTORY_MESSAGES = 100
#: Largest ``after`` accepted (unix seconds; far beyond any real timestamp).
MAX_TIMESTAMP = 1e11


def bot_message(event: Any, sender_id: str) -> Dict[str, Any]:
    """Return a bot event as the channels send messages.

    Args:
        event: A ``BotUttered`` event.
        sender_id: The conversation (the message's ``recipient_id``).

    Returns:
        ``{"recipient_id", "text"?, "buttons"?, "custom"?, ...}``: the
        event's non-empty data fields, as Rasa's REST channel sends them.
    """
    data = {k: v for k, v in (getattr(event, "data", None) or {}).items() if v}
    text = getattr(event, "text", None)
    return {"recipient_id": sender_id, **({"text": text} if text else {}), **data}


def is_agent_event(event: Any) -> bool:
    """Tell whether a bot event carries a human agent's words."""
    metadata = getattr(event, "metadata", None)
    return isinstance(metadata, dict) and metadata.get("agent") is True


def parse_after(raw: Optional[str]) -> Tuple[Optional[float], bool]:
    """Parse the ``after`` query parameter (unix seconds).

    Returns:
        ``(value, True)``; ``(None, True)`` when absent; ``(None, False)``
        when it is not a finite number from 0 to :data:`MAX_TIMESTAMP`.
    """
    if raw is None or raw == "":
        return None, True
    try:
        value = float(raw)
    except ValueError:
        return None, False
    if not math.isfinite(value) or not 0 <= value <= MAX_TIMESTAMP:
        return None, False
    return value, True


def history_answer(
    events: Iterable[Any], sender_id: str, after: Optional[float], paused: bool
) -> Dict[str, Any]:
    """Return the bot messages of a conversation after a timestamp.

    Args:
        events: The conversation's events, oldest first.
        sender_id: The conversation.
        after: Only messages strictly later than this (unix seconds); all
            when None.
        paused: Whether the conversation is handed off (Rasa paused).

    Returns:
        ``{"messages": [...], "cursor": float | None, "paused": bool}``: each
        message as :func:`bot_message` plus ``timestamp`` and ``agent``; at
        most :data:`MAX_HISTORY_MESSAGES`, oldest first; ``cursor`` the
        timestamp to pass as ``after`` next time (the last message's, or
        ``after`` when there is none).
    """
    messages: List[Dict[str, Any]] = []
    cursor = after
    for event in events:
        if getattr(event, "type_name", "") != "bot":
            continue
        timestamp = getattr(event, "timestamp", None)
        if not isinstance(timestamp, (int, float)):
            continue
        if after is not None and timestamp <= after:
            continue
        message = bot_message(event, sender_id)
        message.update(timestamp=float(timestamp), agent=is_agent_event(event))
        messages.append(message)
        cursor = float(timestamp)
        if len(messages) >= MAX_HISTORY_MESSAGES:
            break
    return {"messages": messages, "cursor": cursor, "paused": paused}


__all__ = [
    "MAX_HISTORY_MESSAGES",
    "MAX_TIMESTAMP",
    "bot_message",
    "history_answer",
    "is_agent_event",
    "parse_after",
]
