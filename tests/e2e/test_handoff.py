"""End to end: a human handoff on the real servers (Rasa, actions, IM worker, assistant).

The dialogue's own handoff (an action that records it and pauses the
conversation) is simulated the same way: a ``pause`` event through Rasa's
HTTP API and :func:`bot.handoffs.record_handoff` (``Bot.hand_off``). Then the
buyer gets the waiting answer and no bot answer, the agent's reply reaches
the widget's history (shop) or the platform's callback (IM), and the release
makes the bot answer again.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, List

import httpx
import yaml
from sqlalchemy import select

from bot.db.models import ImInbox
from bot.db.session import session_scope
from bot.devtools import FakeImPlatform
from bot.outbox import pending_counts
from tests.e2e.conftest import IM_SECRET, ROOT, Bot
from tests.e2e.test_im_channel import db_url, message, send, wait_until

SUMMARY: Dict[str, Any] = {
    "order": {"order_id": "2026111000001", "product": "纯棉T恤"},
    "evidence": "未上传",
    "buyer_said": ["我要找人工"],
}


def waiting_text() -> str | None:
    """The text of ``utter_handoff_waiting``, once domain.yml has it."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    variants = (domain.get("responses") or {}).get("utter_handoff_waiting") or []
    return variants[0]["text"] if variants else None


def history(bot: Bot, sender: str, subject: str = "buyer_001", **params: str) -> httpx.Response:
    return httpx.get(
        f"{bot.url}/webhooks/shop/history",
        params={"sender": sender, **params},
        headers={"Authorization": f"Bearer {bot.token(subject)}"},
        timeout=30,
    )


def answered(bot: Bot, msg_id: str) -> bool:
    """Whether the IM worker is done with an inbound message."""
    with session_scope(db_url(bot)) as session:
        done = session.scalar(select(ImInbox.done_at).where(ImInbox.msg_id == msg_id))
        return done is not None


def is_waiting(messages: List[Dict[str, Any]]) -> bool:
    return all((m.get("custom") or {}).get("waiting") is True for m in messages)


def test_shop_handoff_waiting_answer_agent_reply_and_release(bot: Bot, assist: str) -> None:
    sender = f"web-handoff-{uuid.uuid4().hex[:8]}"
    assert bot.say(sender, "在吗")
    handoff_id = bot.hand_off(sender, **SUMMARY)

    # Handed off: the buyer's message is logged, the bot stays silent, and the
    # channel answers with the waiting text (when domain.yml has it).
    answer = bot.say(sender, "衣服太大了能换吗")
    assert len(answer) == 1 and is_waiting(answer), answer
    assert answer[0].get("text") == waiting_text()
    assert answer[0]["custom"]["handoff"] is True

    queue = bot.agent("GET", "/assist/handoffs").json()["handoffs"]
    case = next(c for c in queue if c["id"] == handoff_id)
    assert case["conversation_id"] == sender and case["summary"] == SUMMARY

    before = history(bot, sender).json()
    assert before["paused"] is True
    reply = bot.agent("POST", f"/assist/handoffs/{handoff_id}/reply", {"text": "亲，我是客服小王"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["delivery"] == "shop_tracker"
    after = history(bot, sender, after=str(before["cursor"])).json()
    assert [(m["text"], m["agent"]) for m in after["messages"]] == [("亲，我是客服小王", True)]
    # Only the conversation's own buyer may read it.
    assert history(bot, sender, subject="buyer_002").status_code == 403
    transcript = bot.agent("GET", f"/assist/conversations/{sender}/transcript").json()
    assert ("agent", "亲，我是客服小王") in [(x["role"], x["text"]) for x in transcript["lines"]]
    # The buyer's message during the handoff was logged for the agent.
    assert ("buyer", "衣服太大了能换吗") in [(x["role"], x["text"]) for x in transcript["lines"]]

    released = bot.agent("POST", f"/assist/handoffs/{handoff_id}/release")
    assert released.status_code == 200 and released.json()["resumed"] is True
    assert history(bot, sender).json()["paused"] is False
    assert handoff_id not in [
        c["id"] for c in bot.agent("GET", "/assist/handoffs").json()["handoffs"]
    ]
    again = bot.say(sender, "退货运费谁出")
    assert again and not any((m.get("custom") or {}).get("waiting") for m in again)
    assert any(m.get("text") for m in again)
    # Released: no more replies through the handoff.
    late = bot.agent("POST", f"/assist/handoffs/{handoff_id}/reply", {"text": "还在吗"})
    assert late.status_code == 409


def test_im_handoff_is_silent_and_the_agent_reply_reaches_the_platform(
    bot: Bot, assist: str
) -> None:
    platform = FakeImPlatform(bot.im_platform_port, IM_SECRET).start()
    try:
        conversation = f"c-handoff-{uuid.uuid4().hex[:8]}"
        first = message(conversation, "在吗")
        assert send(bot, first).status_code == 200
        wait_until(lambda: first["msg_id"] in platform.replies_to(conversation))
        handoff_id = bot.hand_off(f"im:{conversation}", channel="im", **SUMMARY)

        during = message(conversation, "衣服太大了能换吗")
        assert send(bot, during).status_code == 200
        reply = bot.agent(
            "POST", f"/assist/handoffs/{handoff_id}/reply", {"text": "您好，我是客服"}
        )
        assert reply.status_code == 200 and reply.json()["delivery"] == "im_outbox"
        wait_until(lambda: None in platform.replies_to(conversation))
        agent = next(
            r
            for r in platform.accepted
            if r["conversation_id"] == conversation and r["reply_to"] is None
        )
        assert [m["text"] for m in agent["messages"]] == ["您好，我是客服"]
        # The message sent during the handoff was processed, and the bot said nothing.
        wait_until(lambda: answered(bot, during["msg_id"]))
        assert during["msg_id"] not in platform.replies_to(conversation)
        assert pending_counts(db_url(bot))["im_outbox"] == 0

        assert bot.agent("POST", f"/assist/handoffs/{handoff_id}/release").status_code == 200
        after = message(conversation, "退货运费谁出")
        assert send(bot, after).status_code == 200
        wait_until(lambda: after["msg_id"] in platform.replies_to(conversation))
    finally:
        platform.stop()
