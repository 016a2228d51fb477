"""Binding of conversations to verified identities, shared by the channels.

A conversation (Rasa's sender id) belongs to the first identity that wrote in
it. The binding is read from the tracker store (the events' metadata), so it
holds across restarts and across several Rasa processes sharing one store; a
small per-process cache saves the look-up for conversations seen before.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Optional

from bot.auth import Identity
from bot.im_protocol import IM_SENDER_PREFIX
from bot.messages import MAX_MESSAGE_LENGTH, clip_message

logger = logging.getLogger(__name__)

__all__ = [
    "IM_SENDER_PREFIX",
    "MAX_MESSAGE_LENGTH",
    "MAX_SENDER_LENGTH",
    "BindingRegistry",
    "clip_message",
    "im_sender_id",
    "is_reserved_sender",
]

#: Longest conversation id accepted.
MAX_SENDER_LENGTH = 128


def im_sender_id(conversation_id: str) -> str:
    """Return the Rasa sender id of an IM platform conversation."""
    return IM_SENDER_PREFIX + conversation_id


def is_reserved_sender(sender_id: str) -> bool:
    """Tell whether a sender id belongs to another channel's namespace."""
    return sender_id.startswith(IM_SENDER_PREFIX)


class BindingRegistry:
    """Answers "may this identity write in this conversation?".

    Args:
        cache_size: How many conversation bindings one process remembers.
    """

    def __init__(self, cache_size: int = 10000) -> None:
        self._cache: OrderedDict[str, Identity] = OrderedDict()
        self._cache_size = cache_size

    def _remember(self, sender_id: str, identity: Identity) -> None:
        self._cache[sender_id] = identity
        self._cache.move_to_end(sender_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def owner(self, tracker_store: Any, sender_id: str) -> Optional[Identity]:
        """Return the identity a conversation is bound to, or None if new."""
        cached = self._cache.get(sender_id)
        if cached is not None:
            return cached
        tracker = await tracker_store.retrieve(sender_id)
        if tracker is None:
            return None
        for event in tracker.events:
            owner = Identity.from_metadata(getattr(event, "metadata", None))
            if owner is not None and getattr(event, "type_name", "") == "user":
                self._remember(sender_id, owner)
                return owner
        return None

    async def allows(self, tracker_store: Any, sender_id: str, identity: Identity) -> bool:
        """Check that ``identity`` may write in conversation ``sender_id``.

        A conversation nobody wrote in yet is allowed (and bound by the first
        message); one bound to another subject or role is not.
        """
        owner = await self.owner(tracker_store, sender_id)
        if owner is None:
            return True
        if owner == identity:
            return True
        logger.warning(
            "conversation %s is bound to another identity; refused %s %s",
            sender_id,
            identity.role,
            identity.subject,
        )
        return False

    def bind(self, sender_id: str, identity: Identity) -> None:
        """Remember a binding made by a message that was just accepted."""
        self._remember(sender_id, identity)
