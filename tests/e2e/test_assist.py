"""End to end: the agent assistant against the real Rasa server, and its console.

The assistant runs as its own process (``python -m bot.assist.app``) beside
the session's Rasa and action servers; its OpenAPI description is checked
with schemathesis against the running service (no 5xx for any generated
input, answers as documented), and the console is driven in Debian's
headless Chromium (fixtures in ``conftest.py``). Screenshots go to
``results/tests/console/``.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from playwright.sync_api import Page, expect
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import AGENT_TOKEN, Bot, screenshot

AUTH = {"Authorization": f"Bearer {AGENT_TOKEN}"}
OWN = "2026111000001"  # buyer_001: completed 2026-11-16, W1 open through 2026-12-01
ANSWER_MS = 60_000


def _tracker_events(bot: Bot, conversation_id: str) -> list[Dict[str, Any]]:
    reply = httpx.get(
        f"{bot.url}/conversations/{conversation_id}/tracker",
        params={"token": bot.stack.env["SHOPBOT_RASA_TOKEN"]},
        timeout=30,
    )
    assert reply.status_code == 200
    events: list[Dict[str, Any]] = reply.json()["events"]
    return events


def test_suggestions_through_real_nlu_are_grounded_and_write_nothing(bot: Bot, assist: str) -> None:
    bot.say("assist-e2e-1", "衣服太大了能换吗")
    before = _tracker_events(bot, "assist-e2e-1")
    body = {
        "conversation_id": "assist-e2e-1",
        "buyer_id": "buyer_001",
        "message": "衣服太大了能换吗",
        "order_id": OWN,
    }
    reply = httpx.post(f"{assist}/assist/suggest", json=body, headers=AUTH, timeout=60)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["intent"] in ("size_issue", "exchange_goods")
    assert answer["order"]["order_id"] == OWN
    assert answer["decision"]["window_end"] == "2026-12-01"
    best = answer["suggestions"][0]
    assert "2026年12月1日" in best["text"] and "W1" in best["rule_ids"]
    # The buyer's conversation is untouched: parse and read only.
    assert _tracker_events(bot, "assist-e2e-1") == before
    assert httpx.post(f"{assist}/assist/suggest", json=body, timeout=10).status_code == 401


#: Generated inputs per operation.
EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_api_keeps_its_description_for_any_input(assist: str) -> None:
    """Schemathesis: every operation, generated bodies and paths, real service."""
    schema = schemathesis.openapi.from_url(f"{assist}/assist/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    document = httpx.get(f"{assist}/assist/openapi.json", timeout=10).json()
    described = [(path, method) for path, item in document["paths"].items() for method in item]
    assert len(operations) == len(described)
    assert ("/evidence/upload", "post") in described and len(described) >= 7
    assert "POST /assist/handoffs/{handoff_id}/reply" in [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=AUTH, checks=CHECKS)

        check()


def test_the_console_shows_transcript_suggestions_order_and_figures(
    page: Page, bot: Bot, assist: str
) -> None:
    conversation = "assist-e2e-console"
    bot.say(conversation, "衣服太大了能换吗")
    bot.say(conversation, "<img src=x onerror=window.__pwned=1>")
    page.goto(
        f"{assist}/console/?conversation={conversation}&buyer=buyer_001&order={OWN}"
        f"#token={AGENT_TOKEN}"
    )
    assert AGENT_TOKEN not in page.url  # the token leaves the address bar
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("衣服太大了能换吗", timeout=ANSWER_MS)
    expect(transcript).to_contain_text("<img src=x onerror=window.__pwned=1>")
    assert page.locator("#transcript img").count() == 0
    page.locator("#transcript li.buyer", has_text="衣服太大了能换吗").click()
    expect(page.locator("#message")).to_have_value("衣服太大了能换吗")
    page.get_by_role("button", name="获取建议回复").click()
    first = page.locator("#suggestions .suggestion").first
    expect(first).to_contain_text("2026年12月1日", timeout=ANSWER_MS)
    expect(page.locator("#order-facts")).to_contain_text("纯棉圆领T恤")
    expect(page.locator("#decision")).to_contain_text("2026年12月1日")
    expect(page.locator("#decision")).to_contain_text("W1")
    expect(page.locator("#summary")).to_contain_text(OWN)
    meta = first.locator(".meta").inner_text()
    first.click()
    reply = page.locator("#reply").input_value()
    assert "2026年12月1日" in reply and reply in first.inner_text() and meta not in reply
    page.locator("#reply").press("End")
    page.locator("#reply").type("～")
    figures = page.locator("#figures")
    expect(figures).to_contain_text("采纳后修改", timeout=10_000)
    # Send and release act on a handoff of the queue: none is selected.
    expect(page.locator("#send")).to_be_disabled()
    expect(page.locator("#release")).to_be_disabled()
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "console", folder="console")
    counted = httpx.get(f"{assist}/assist/figures", headers=AUTH, timeout=10).json()
    assert counted["accepted"] >= 1 and counted["edited"] >= 1
    # The panel shows the service's figures (other tests may have added events).
    page.reload()
    expect(figures).to_contain_text(f"{counted['acceptance'] * 100:.1f}%", timeout=10_000)
    expect(figures).to_contain_text(f"{counted['shown']} 次")


def test_the_console_asks_for_a_token_and_refuses_a_wrong_one(page: Page, assist: str) -> None:
    page.goto(f"{assist}/console/")
    form = page.locator("#token-form")
    expect(form).to_be_visible()
    page.locator("#token").fill("wrong-token")
    form.get_by_role("button").click()
    expect(page.locator("#notice")).to_contain_text("令牌无效", timeout=10_000)
    expect(form).to_be_visible()


def test_the_console_answers_and_releases_a_handed_off_conversation(
    page: Page, bot: Bot, assist: str
) -> None:
    conversation = f"assist-e2e-handoff-{uuid.uuid4().hex[:8]}"
    assert bot.say(conversation, "在吗")
    handoff_id = bot.hand_off(
        conversation,
        order={"order_id": OWN, "product": "纯棉圆领T恤", "status_name": "交易成功"},
        decision={"route_name": "七天无理由退货", "eligible": True, "window_end": "2026-12-01"},
        claim={"claim_no": f"AS{OWN}", "claim_status": "等待卖家处理"},
        evidence={"needed": ["商品照片", "快递面单"], "uploaded": ["商品照片"]},
        buyer_said=["衣服太大了", "我要找人工"],
    )
    page.goto(f"{assist}/console/#token={AGENT_TOKEN}")
    case = page.locator(f'.handoff[data-handoff="{handoff_id}"]')
    expect(case).to_contain_text("我要找人工", timeout=ANSWER_MS)
    facts = (
        "纯棉圆领T恤",
        "交易成功",
        "七天无理由退货",
        "2026年12月1日",
        f"AS{OWN}",
        "还缺：快递面单",
    )
    for fact in (*facts, "买家要求人工"):
        expect(case).to_contain_text(fact)
    expect(page.locator("#send")).to_be_disabled()
    case.click()
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#conversation")).to_have_value(conversation)
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("在吗", timeout=ANSWER_MS)
    page.locator("#reply").fill("亲，我是客服小王，马上为您处理")
    page.locator("#send").click()
    expect(page.locator("#notice")).to_contain_text("已发送给买家", timeout=ANSWER_MS)
    expect(transcript).to_contain_text("人工客服：亲，我是客服小王，马上为您处理")
    screenshot(page, "console-handoff", folder="console")
    # The buyer is still waiting for a person, not for the bot.
    waiting = bot.say(conversation, "好的")
    assert all((m.get("custom") or {}).get("waiting") for m in waiting)

    page.locator("#release").click()
    expect(page.locator("#notice")).to_contain_text(
        f"已交还机器人：#{handoff_id}", timeout=ANSWER_MS
    )
    expect(case).to_have_count(0)
    expect(page.locator("#release")).to_be_disabled()
    again = bot.say(conversation, "退货运费谁出")
    assert any(m.get("text") for m in again)
    assert not any((m.get("custom") or {}).get("waiting") for m in again)
