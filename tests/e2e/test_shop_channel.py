"""End to end: the shop channel through the real Rasa and action servers."""

from __future__ import annotations

import uuid

import httpx

from tests.e2e.conftest import Bot


def conversation() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


def texts(messages: list[dict]) -> str:
    return "\n".join(message.get("text") or "" for message in messages)


def test_greeting_gets_a_chinese_answer(bot: Bot) -> None:
    messages = bot.say(conversation(), "在吗")
    assert messages and all(m["recipient_id"] for m in messages)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in texts(messages))


def test_question_about_an_order_names_its_product(bot: Bot, demo_order: dict) -> None:
    messages = bot.say(conversation(), f"我的订单{demo_order['order_id']}的衣服太大了")
    assert demo_order["product"] in texts(messages)


def test_another_buyers_order_is_not_shown(bot: Bot, demo_order: dict) -> None:
    messages = bot.say(
        conversation(), f"我的订单{demo_order['order_id']}的衣服太大了", subject="buyer_002"
    )
    assert demo_order["product"] not in texts(messages)
    assert demo_order["order_id"] in texts(messages)  # "未找到该订单（…）"


def test_no_token_is_401_and_nothing_recorded(bot: Bot) -> None:
    sender = conversation()
    reply = bot.post({"sender": sender, "message": "在吗"})
    assert reply.status_code == 401
    # Nothing was recorded: the conversation is still free for anyone.
    assert bot.say(sender, "在吗", subject="buyer_002")


def test_bad_signature_and_expired_token_are_401(bot: Bot) -> None:
    body = {"sender": conversation(), "message": "在吗"}
    forged = bot.token()[:-4] + "AAAA"
    assert bot.post(body, token=forged).status_code == 401
    expired = bot.token(ttl=1)
    import time

    time.sleep(2.1)
    assert bot.post(body, token=expired).status_code == 401


def test_a_conversation_of_another_buyer_is_403(bot: Bot) -> None:
    sender = conversation()
    bot.say(sender, "在吗", subject="buyer_001")
    reply = bot.post({"sender": sender, "message": "在吗"}, token=bot.token("buyer_002"))
    assert reply.status_code == 403


def test_broken_json_is_400_without_a_stack_trace(bot: Bot) -> None:
    reply = bot.post(None, token=bot.token(), raw=b'{"sender": "x", "message": ')
    assert reply.status_code == 400
    assert "Traceback" not in reply.text and reply.json() == {"error": "invalid_json"}


def test_odd_messages_get_answers_and_the_server_keeps_serving(bot: Bot) -> None:
    sender = conversation()
    for message in ["", "   ", "😀😂👍", "啊" * 5000, "'; DROP TABLE orders; --", "\x00\x07"]:
        reply = bot.post({"sender": sender, "message": message}, token=bot.token())
        assert reply.status_code == 200, (message[:20], reply.text)
        assert isinstance(reply.json(), list)
    assert bot.say(sender, "在吗")


def test_rest_channel_is_not_served(bot: Bot) -> None:
    reply = httpx.post(
        f"{bot.url}/webhooks/rest/webhook", json={"sender": "x", "message": "在吗"}, timeout=10
    )
    assert reply.status_code == 404
