"""The shape every shopbot action shares: tracker → one ``bot`` call → responses."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import tracker as facts
from bot.conversation import Reply, Turn
from bot.db.session import UNAVAILABLE, database_label, unavailable_reason
from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)


class TurnAction(Action):
    """An action that answers a :class:`~bot.conversation.Turn` with a reply.

    Subclasses name themselves and implement :meth:`reply`; a conversation
    without a verified identity gets ``utter_login_required`` and no change.
    When the order database cannot be used (refused or lost connection, no
    answer), the buyer gets ``utter_busy`` and the bot listens, the
    conversation's state stays as it was (the same answer works once the
    database is back) and one log line says so; what the reply would have
    written was one transaction, so it is there whole or not at all.
    """

    #: The action's name in ``domain.yml``.
    action_name = ""

    def name(self) -> str:
        """Return the action's name in ``domain.yml``."""
        return self.action_name

    def reply(self, settings: Settings, turn: Turn) -> Reply:
        """Return what the bot says (one call into ``bot``)."""
        raise NotImplementedError

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[Dict[str, Any]]:
        """Read the turn, ask ``bot`` for the reply and dispatch it."""
        turn = facts.turn(tracker)
        if turn is None:
            return facts.login_required(dispatcher)
        settings = get_settings()
        try:
            reply = self.reply(settings, turn)
        except UNAVAILABLE as error:
            logger.error(
                "%s: the order database (%s) is unavailable (%s) for conversation %s: "
                "the bot answered %s",
                self.action_name,
                database_label(settings.db_url),
                unavailable_reason(error),
                tracker.sender_id,
                facts.BUSY_RESPONSE,
            )
            return facts.busy(dispatcher)
        return facts.send(dispatcher, reply)
