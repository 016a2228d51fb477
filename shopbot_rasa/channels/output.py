"""The output channel of shopbot's HTTP channels: one JSON message per bot message.

Rasa's :class:`CollectingOutputChannel` splits a bot message that has both a
text and a ``custom`` payload into two messages. Ours keeps them together, so
a policy answer arrives as one message with its ``text``, its ``buttons`` and
the ``custom`` payload holding the rule ids (``custom.rule_ids``) it rests on.
"""

from __future__ import annotations

from typing import Any, Dict

from rasa.core.channels.channel import CollectingOutputChannel


class ShopOutputChannel(CollectingOutputChannel):
    """Collects the bot's messages as ``{recipient_id, text, buttons, custom}``."""

    @classmethod
    def name(cls) -> str:
        """Rasa's name for the collector (the input channel names itself)."""
        return "collector"

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        """Persist one message with its text, buttons, custom payload and image."""
        kept: Dict[str, Any] = {"recipient_id": recipient_id}
        for key in ("text", "buttons", "custom", "image", "attachment", "elements"):
            value = message.get(key)
            if value:
                kept[key] = value
        if message.get("quick_replies") and "buttons" not in kept:
            kept["buttons"] = message["quick_replies"]
        if len(kept) > 1:
            await self._persist_message(kept)
