"""Opening a claim after the buyer confirms, and the return waybill of E6."""

from __future__ import annotations

from actions.base import TurnAction
from bot import conversation
from bot.conversation import Reply, Turn
from bot.settings import Settings


class ActionConfirmClaim(TurnAction):
    """The buyer said yes to the offered claim: open it."""

    action_name = "action_confirm_claim"

    def reply(self, settings: Settings, turn: Turn) -> Reply:
        """Open the claim and answer with its number, evidence and deadline."""
        return conversation.confirm_claim(settings, turn)


class ActionDeclineClaim(TurnAction):
    """The buyer said no to the offered claim: nothing is opened."""

    action_name = "action_decline_claim"

    def reply(self, settings: Settings, turn: Turn) -> Reply:
        """Acknowledge; forget the offer."""
        return conversation.decline_claim(turn)


class ActionReturnWaybill(TurnAction):
    """E6: the buyer answers the request for the return waybill."""

    action_name = "action_return_waybill"

    def reply(self, settings: Settings, turn: Turn) -> Reply:
        """Confirm the waybill back and hand over, or ask again."""
        return conversation.return_waybill(settings, turn)
