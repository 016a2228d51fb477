"""End to end: Rasa's pika event broker → RabbitMQ → the event consumer → the console's figures.

A stack whose Rasa server publishes its events to a queue (and exchange) of
this test's own on this machine's RabbitMQ (required: the test fails without
it). Two buyers talk on the shop channel: one opens a claim, the other asks
for a person and writes again while handed off. ``python -m
bot.event_consumer`` counts the queue, and the agent assistant's
``GET /assist/figures/daily`` shows the day: the conversations, the messages
and intents Rasa's trackers hold, one claim and one handoff.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import httpx
import pytest
from playwright.sync_api import Page, expect

from bot.assist.rasa import conversation_path
from bot.devtools import BOT_PYTHON, Stack
from tests.bot.rabbitmq_helpers import (
    broker_address,
    delete_exchange,
    delete_queue,
    ready_messages,
    require_broker,
    unique_queue,
    wait_until,
)
from tests.e2e.conftest import (
    AGENT_TOKEN,
    ROOT,
    SECRET,
    Bot,
    free_port,
    model_path,
    screenshot,
)

#: The demo buyer's completed T-shirt order (inside W1 on the demo day).
ORDER = "2026111000001"
WAIT_S = 60.0


def _broker_section(queue: str, exchange: str) -> str:
    host, port = broker_address()
    return (
        "event_broker:\n"
        "  type: pika\n"
        f"  url: {host}\n"
        f"  port: {port}\n"
        "  username: guest\n"
        "  password: guest\n"
        f"  queues:\n    - {queue}\n"
        f"  exchange_name: {exchange}\n"
    )


@pytest.fixture()
def events_queue() -> Iterator[str]:
    """A queue (and fanout exchange ``<queue>_x``) of this test only."""
    require_broker()
    queue = unique_queue()
    yield queue
    delete_queue(queue)
    delete_exchange(f"{queue}_x")


@pytest.fixture()
def broker_bot(tmp_path: Path, events_queue: str) -> Iterator[Bot]:
    """The demo stack with the pika event broker, and the agent assistant."""
    stack = Stack.demo(model_path(), tmp_path, SECRET)
    stack.endpoints_extra = _broker_section(events_queue, f"{events_queue}_x")
    stack.env = {**stack.env, "SHOPBOT_EVENTS_QUEUE": events_queue}
    try:
        stack.start()
        stack.start_assist(AGENT_TOKEN)
        yield Bot(stack, f"http://127.0.0.1:{free_port()}", free_port())
    finally:
        stack.stop()


def _user_intents(bot: Bot, sender: str) -> List[str]:
    """The intents of the buyer's messages as Rasa's tracker holds them."""
    reply = httpx.get(
        f"{bot.url}/conversations/{conversation_path(sender)}/tracker",
        params={"token": bot.stack.env["SHOPBOT_RASA_TOKEN"]},
        timeout=30,
    )
    reply.raise_for_status()
    return [
        ((e.get("parse_data") or {}).get("intent") or {}).get("name")
        for e in reply.json()["events"]
        if e.get("event") == "user"
    ]


def _daily(bot: Bot) -> Dict[str, Any]:
    reply = bot.agent("GET", "/assist/figures/daily")
    assert reply.status_code == 200, reply.text
    figures: Dict[str, Any] = reply.json()
    return figures


def test_a_claim_and_a_handoff_reach_the_consoles_figures(
    broker_bot: Bot, events_queue: str, tmp_path: Path, page: Page
) -> None:
    bot = broker_bot
    claimant, asker = f"ev-claim-{uuid.uuid4().hex[:8]}", f"ev-human-{uuid.uuid4().hex[:8]}"
    offer = bot.say(claimant, f"订单{ORDER}的T恤洗了一次就破洞了，质量有问题")
    assert any(b.get("payload") == "/affirm" for m in offer for b in m.get("buttons") or [])
    opened = bot.say(claimant, "/affirm")
    assert any(f"AS{ORDER}" in (m.get("text") or "") for m in opened)
    handed = bot.say(asker, "我要转人工客服")
    assert any((m.get("custom") or {}).get("handoff_id") for m in handed)
    waiting = bot.say(asker, "在吗？")
    assert any((m.get("custom") or {}).get("waiting") for m in waiting)

    log = tmp_path / "event_consumer.log"
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, **bot.stack.env, "PYTHONPATH": python_path}
    with log.open("wb") as output:
        consumer = subprocess.Popen(
            [str(BOT_PYTHON), "-m", "bot.event_consumer"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        intents = _user_intents(bot, claimant) + _user_intents(bot, asker)
        assert len(intents) == 4

        def counted() -> bool:
            total = _daily(bot)["total"]
            return total["messages"] == len(intents) and total["handoffs"] == 1

        assert wait_until(counted, WAIT_S, interval_s=0.5), (_daily(bot), log.read_text())
        assert wait_until(lambda: ready_messages(events_queue) == 0, WAIT_S)
        figures = _daily(bot)
        total = figures["total"]
        assert total["first_day"] == total["last_day"] == bot.stack.env["SHOPBOT_TODAY"]
        assert total["conversations"] == 2
        assert total["claims_opened"] == 1 and total["claim_types"] == {"quality_issue": 1}
        assert total["handoffs"] == 1 and total["handoff_reasons"] == {"request_human": 1}
        expected: Dict[str, int] = {}
        for intent in intents:
            expected[intent] = expected.get(intent, 0) + 1
        assert total["intents"] == expected
        assert total["fallbacks"] == expected.get("nlu_fallback", 0)
        assert figures["intent_titles"].get("request_human") == "转人工客服"

        page.goto(f"{bot.stack.assist_url}/console/#token={AGENT_TOKEN}")
        panel = page.locator("#daily")
        expect(panel).to_contain_text("新建售后1 个", timeout=10_000)
        expect(panel).to_contain_text("转人工1 次")
        expect(panel).to_contain_text(f"买家消息{len(intents)} 条")
        expect(panel).to_contain_text("对话数2 个")
        expect(page.locator("#daily-range")).to_contain_text("2026年11月24日")
        expect(page.locator("#daily-intents")).to_contain_text("转人工客服：1 条")
        expect(page.locator("#daily-intents")).to_contain_text("确认：")  # /affirm
        page.locator("#daily-days").select_option("7")
        page.get_by_role("button", name="查看").click()
        expect(page.locator("#daily-range")).to_contain_text("2026年11月18日 至 2026年11月24日")
        expect(panel).to_contain_text("新建售后1 个")
        screenshot(page, "daily_figures", folder="console")
    finally:
        consumer.send_signal(signal.SIGTERM)
        try:
            code = consumer.wait(30)
        except subprocess.TimeoutExpired:
            consumer.kill()
            code = consumer.wait()
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
