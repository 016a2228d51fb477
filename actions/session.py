"""Starting a conversation session: carry the slots over, keep a handoff paused.

Rasa starts a new session after ``session_expiration_time`` of silence and
resets the tracker, which would also end a pause. A conversation that is
still with a person (an open handoff in ``bot``) stays paused. While the
order database is unreachable the session starts unpaused (one log line).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.db.session import UNAVAILABLE, database_label, unavailable_reason
from bot.handoffs import is_handed_off
from bot.settings import get_settings

logger = logging.getLogger(__name__)

#: Slots Rasa itself fills at a session start; never carried over.
_OWN_SLOTS = ("session_started_metadata",)


class ActionSessionStart(Action):
    """Start a session with the previous slots; re-pause a handed-off conversation."""

    def name(self) -> str:
        """Return Rasa's name for the session start."""
        return "action_session_start"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[Dict[str, Any]]:
        """Return the session start, the carried-over slots and, if handed off, a pause."""
        events: List[Dict[str, Any]] = [SessionStarted()]
        events.extend(
            SlotSet(name, value)
            for name, value in tracker.slots.items()
            if value is not None and name not in _OWN_SLOTS
        )
        settings = get_settings()
        try:
            handed_off = is_handed_off(settings, tracker.sender_id)
        except UNAVAILABLE as error:
            # The action of the buyer's message that follows answers utter_busy
            # while the database is away.
            logger.error(
                "action_session_start: the order database (%s) is unavailable (%s) for "
                "conversation %s: the session starts without the handoff check",
                database_label(settings.db_url),
                unavailable_reason(error),
                tracker.sender_id,
            )
            handed_off = False
        if handed_off:
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events
