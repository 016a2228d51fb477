"""Handing a conversation to a person (转人工, complaints)."""

from __future__ import annotations

from actions.base import TurnAction
from bot import conversation
from bot.conversation import Reply, Turn
from bot.settings import Settings


class ActionHandoff(TurnAction):
    """Record a handoff with a case summary and pause the bot."""

    action_name = "action_handoff"

    def reply(self, settings: Settings, turn: Turn) -> Reply:
        """The reason is the intent: ``complaint`` or ``request_human``."""
        reason = "complaint" if turn.intent == "complaint" else "request_human"
        return conversation.hand_off(settings, turn, reason)
