"""Sellers asking how to handle after-sales, for their own shop's orders."""

from __future__ import annotations

from actions.base import TurnAction
from bot import conversation
from bot.conversation import Reply, Turn
from bot.settings import Settings


class ActionSellerGuidance(TurnAction):
    """Seller-side guidance; with an order of the seller's shop, its decision."""

    action_name = "action_seller_guidance"

    def reply(self, settings: Settings, turn: Turn) -> Reply:
        """Guidance, or the decision for the seller's order."""
        return conversation.seller(settings, turn)
