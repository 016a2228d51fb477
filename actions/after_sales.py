"""Order and after-sales questions, answered from the buyer's own order."""

from __future__ import annotations

from actions.base import TurnAction
from bot import conversation
from bot.conversation import Reply, Turn
from bot.settings import Settings


class ActionAnswer(TurnAction):
    """Answer an order or after-sales question (the rule engine's decision)."""

    action_name = "action_answer"

    def reply(self, settings: Settings, turn: Turn) -> Reply:
        """Answer about the order in the message, the slot, or the buyer's only order."""
        return conversation.answer(settings, turn)
