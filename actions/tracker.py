"""Reading shopbot facts out of a Rasa tracker."""

from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Tracker

from bot.auth import Identity


def identity(tracker: Tracker) -> Optional[Identity]:
    """Return the verified identity of the conversation, if the channel set one.

    The channel attaches it to every user message's metadata; the latest
    message is checked first, then earlier ones.
    """
    found = Identity.from_metadata((tracker.latest_message or {}).get("metadata"))
    if found is not None:
        return found
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            found = Identity.from_metadata(event.get("metadata"))
            if found is not None:
                return found
    return None


def latest_entity(tracker: Tracker, entity: str) -> Optional[Any]:
    """Return the first value of ``entity`` in the latest message, if any."""
    return next(tracker.get_latest_entity_values(entity), None)
