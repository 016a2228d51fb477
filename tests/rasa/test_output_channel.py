"""Tests of shopbot_rasa/channels/output.py: one JSON message per bot message."""

from __future__ import annotations

import asyncio

from shopbot_rasa.channels.output import ShopOutputChannel


def test_text_buttons_and_custom_stay_one_message() -> None:
    channel = ShopOutputChannel()
    message = {
        "text": "答复",
        "buttons": [{"title": "好的", "payload": "/affirm"}],
        "custom": {"rule_ids": ["W1"]},
        "image": None,
    }
    asyncio.run(channel.send_response("conv", message))
    assert channel.messages == [
        {
            "recipient_id": "conv",
            "text": "答复",
            "buttons": [{"title": "好的", "payload": "/affirm"}],
            "custom": {"rule_ids": ["W1"]},
        }
    ]


def test_an_empty_message_is_not_sent() -> None:
    channel = ShopOutputChannel()
    asyncio.run(channel.send_response("conv", {"text": "", "custom": None}))
    assert channel.messages == []
