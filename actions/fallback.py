"""When NLU is unsure: ask with the likeliest topics, then offer a person."""

from __future__ import annotations

from actions.base import TurnAction
from bot import conversation
from bot.conversation import Reply, Turn
from bot.settings import Settings


class ActionClarify(TurnAction):
    """Low confidence: topics as buttons; the second miss in a row offers a person."""

    action_name = "action_clarify"

    def reply(self, settings: Settings, turn: Turn) -> Reply:
        """Offer the two likeliest topics, or a person."""
        return conversation.clarify(turn)
