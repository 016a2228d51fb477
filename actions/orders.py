"""Actions about the buyer's orders."""

from __future__ import annotations

import json
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import tracker as facts
from bot.orders import OrderView
from bot.services import lookup_order
from bot.settings import SHOP_TZ, get_settings

#: The response that describes an order in each status.
STATUS_RESPONSES = {
    "unpaid": "utter_order_status_unpaid",
    "paid": "utter_order_status_paid",
    "shipped": "utter_order_status_shipped",
    "delivered": "utter_order_status_delivered",
    "completed": "utter_order_status_completed",
    "closed": "utter_order_status_closed",
}


def order_placeholders(order: OrderView) -> Dict[str, Any]:
    """Return the response placeholders that describe one order."""
    return {
        "order_id": order.order_id,
        "product": order.product,
        "shop_name": order.shop_name,
        "courier": order.courier or "",
        "tracking_no": order.tracking_no or "",
    }


def order_button(order: OrderView) -> Dict[str, str]:
    """Return a quick-reply button that picks ``order``."""
    paid = order.paid_at.astimezone(SHOP_TZ).date().isoformat() if order.paid_at else ""
    title = " · ".join(part for part in (order.product, paid, order.order_id) if part)
    payload = "/provide_order_id" + json.dumps({"order_id": order.order_id})
    return {"title": title, "payload": payload}


class ActionLookupOrder(Action):
    """Answer with the buyer's order: its product and status.

    Uses the order id of the latest message or of the ``order_id`` slot; with
    none, offers the buyer's recent orders as buttons.
    """

    def name(self) -> str:
        """Return the action's name in ``domain.yml``."""
        return "action_lookup_order"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[Dict[str, Any]]:
        """Look the order up and dispatch the matching response."""
        who = facts.identity(tracker)
        if who is None:
            dispatcher.utter_message(response="utter_login_required")
            return []
        raw_id = facts.latest_entity(tracker, "order_id") or tracker.get_slot("order_id")
        result = lookup_order(get_settings(), who.subject, raw_id)
        if result.outcome == "found" and result.order is not None:
            dispatcher.utter_message(
                response=STATUS_RESPONSES[result.order.status],
                **order_placeholders(result.order),
            )
            return [SlotSet("order_id", result.order.order_id)]
        if result.outcome == "not_found":
            dispatcher.utter_message(response="utter_order_not_found", order_id=result.order_id)
            return [SlotSet("order_id", None)]
        if result.outcome == "no_orders":
            dispatcher.utter_message(response="utter_no_orders")
            return []
        dispatcher.utter_message(
            response="utter_ask_order_id",
            buttons=[order_button(order) for order in result.candidates],
        )
        return []
