"""The shape every shopbot action shares: tracker → one ``bot`` call → responses."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import tracker as facts
from bot.conversation import Reply, Turn
from bot.settings import Settings, get_settings


class TurnAction(Action):
    """An action that answers a :class:`~bot.conversation.Turn` with a reply.

    Subclasses name themselves and implement :meth:`reply`; a conversation
    without a verified identity gets ``utter_login_required`` and no change.
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
        return facts.send(dispatcher, self.reply(get_settings(), turn))
