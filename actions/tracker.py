"""Reading shopbot facts out of a Rasa tracker, and writing replies back.

:func:`turn` turns the tracker into a :class:`bot.conversation.Turn`;
:func:`send` dispatches a :class:`bot.conversation.Reply` (responses of
``domain.yml`` with their values) and returns its events.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.auth import Identity
from bot.conversation import Reply, Turn

#: How many of the buyer's latest messages a turn carries.
TEXTS_KEPT = 20
#: The response of "the system is busy, please try later".
BUSY_RESPONSE = "utter_busy"


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


def _user_events(tracker: Tracker) -> List[Dict[str, Any]]:
    return [event for event in tracker.events if event.get("event") == "user"]


def buyer_texts(tracker: Tracker) -> Tuple[str, ...]:
    """The buyer's texts, oldest first (button payloads left out)."""
    texts = [str(event.get("text") or "") for event in _user_events(tracker)]
    return tuple(text for text in texts if not text.startswith("/"))[-TEXTS_KEPT:]


def fallbacks_in_a_row(tracker: Tracker) -> int:
    """How many of the latest non-blank user messages in a row NLU could not place."""
    count = 0
    for event in reversed(_user_events(tracker)):
        if not str(event.get("text") or "").strip():
            continue  # a blank message is neither a miss nor an answer
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent != "nlu_fallback":
            break
        count += 1
    return count


def _ranking(tracker: Tracker) -> Tuple[Tuple[str, float], ...]:
    ranking = (tracker.latest_message or {}).get("intent_ranking") or []
    return tuple(
        (str(item.get("name")), float(item.get("confidence") or 0.0))
        for item in ranking
        if isinstance(item, dict) and item.get("name")
    )


def _number(value: Any) -> int:
    try:
        return int(float(value or 0))
    except (TypeError, ValueError):
        return 0


def turn(tracker: Tracker) -> Optional[Turn]:
    """Return what the conversation knows, or None without a verified identity."""
    who = identity(tracker)
    if who is None:
        return None
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""
    order_id = latest_entity(tracker, "order_id")
    tracking_no = latest_entity(tracker, "tracking_no")
    return Turn(
        who=who,
        intent=str(intent),
        said=buyer_texts(tracker),
        order_id=str(order_id) if order_id is not None else None,
        known_order_id=tracker.get_slot("order_id"),
        problem=tracker.get_slot("problem"),
        awaiting=tracker.get_slot("awaiting"),
        order_misses=_number(tracker.get_slot("order_misses")),
        tracking_no=str(tracking_no) if tracking_no is not None else None,
        ranking=_ranking(tracker),
        fallbacks=fallbacks_in_a_row(tracker),
        conversation_id=tracker.sender_id,
        channel=tracker.get_latest_input_channel() or "",
    )


def send(dispatcher: CollectingDispatcher, reply: Reply) -> List[Dict[str, Any]]:
    """Dispatch the reply's responses and return its slot (and pause) events.

    A placeholder without a value is sent as an empty string, never ``None``.
    """
    for message in reply.messages:
        values = {key: ("" if value is None else value) for key, value in message.values.items()}
        buttons = [{"title": b.title, "payload": b.payload} for b in message.buttons]
        dispatcher.utter_message(
            response=message.response,
            buttons=buttons or None,
            json_message=dict(message.custom) if message.custom else None,
            **values,
        )
    events: List[Dict[str, Any]] = [SlotSet(name, value) for name, value in reply.slots.items()]
    if reply.pause:
        events.append(ConversationPaused())
    return events


def login_required(dispatcher: CollectingDispatcher) -> List[Dict[str, Any]]:
    """Tell the user their identity is missing; change nothing."""
    dispatcher.utter_message(response="utter_login_required")
    return []


def busy(dispatcher: CollectingDispatcher) -> List[Dict[str, Any]]:
    """Tell the user the system is busy (try again later); change nothing else.

    The bot then listens: with the slots unchanged (an offered claim still
    awaiting its answer), the rules may know no next action and Rasa's
    fallback would add "I did not understand".
    """
    dispatcher.utter_message(response=BUSY_RESPONSE)
    return [FollowupAction("action_listen")]
