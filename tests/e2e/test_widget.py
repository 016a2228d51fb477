"""End to end: the web widget on the demo shop page, in a real browser.

Debian's headless Chromium (``/usr/bin/chromium``; ``scripts/test.sh`` installs
the ``chromium`` package when it is missing) is driven by Playwright; no browser
is downloaded. The page comes from the demo shop server (bot/demo_shop.py) on
the one origin the servers accept; the widget talks to the real Rasa server.
Screenshots go to ``results/tests/widget/``; the browser fixtures are in
``conftest.py``.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterator

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ROOT, Bot, screenshot, shop_page, start_bot

#: Seconds to wait for the bot's answer in the browser.
ANSWER_S = 60
#: Seconds a restarted Rasa server may take to answer the kept messages.
RESTART_S = 300

BOT_MESSAGES = "#shopbot-widget .msg.bot"
USER_MESSAGES = "#shopbot-widget .msg.user"


def domain_text(name: str) -> str:
    """The first text of a domain.yml response."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    text: str = domain["responses"][name][0]["text"]
    return text


def open_chat(page: Page, shop: str, query: str = "") -> float:
    """Load the demo page, wait for the greeting; return ms to the first bot message."""
    page.goto(f"{shop}/{query}")
    expect(page.locator(BOT_MESSAGES).first).to_be_visible(timeout=ANSWER_S * 1000)
    first: float = page.evaluate("window.ShopBot.metrics.firstBotMessageMs")
    return first


def wait_for(page: Page, expression: str, timeout_s: float) -> None:
    """Poll a page expression until it is true (the demo page's CSP forbids
    the eval that ``page.wait_for_function`` needs)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"{expression} stayed false for {timeout_s} s"
        page.wait_for_timeout(200)


def widget_state(page: Page) -> Dict[str, Any]:
    """The widget's saved state (conversation id, transcript) from localStorage."""
    state: Dict[str, Any] = page.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('shopbot:'))"
        ".map(k => JSON.parse(localStorage.getItem(k)))[0]"
    )
    return state


def say(page: Page, text: str) -> None:
    box = page.locator("#shopbot-widget textarea")
    box.fill(text)
    box.press("Enter")


def test_buyer_asks_picks_the_order_gets_the_answer_and_keeps_it_after_reload(
    page: Page, shop: str
) -> None:
    first_ms = open_chat(page, shop)
    print(f"\nwidget: page load to first bot message {first_ms:.0f} ms")
    say(page, "衣服太大了能换吗")
    expect(page.locator(USER_MESSAGES).last).to_have_text("衣服太大了能换吗")
    # No order id given: the buyer's recent orders come back as buttons
    # titled "product · paid date · order id".
    choice = page.locator("#shopbot-widget .buttons button").first
    expect(choice).to_be_visible(timeout=ANSWER_S * 1000)
    assert page.locator("#shopbot-widget .buttons button").count() >= 2
    title = choice.inner_text()
    product, order_id = title.split(" · ")[0], title.split(" · ")[-1]
    choice.click()
    # The buyer sees the button's title, never the intent payload.
    expect(page.locator(USER_MESSAGES).last).to_have_text(title)
    assert "/provide_order_id" not in page.locator("#shopbot-widget .log").inner_text()
    answer = page.locator(BOT_MESSAGES, has_text=product)
    expect(answer.last).to_be_visible(timeout=ANSWER_S * 1000)
    expect(answer.last).to_contain_text(order_id)
    screenshot(page, "desktop-answer")

    page.reload()
    log = page.locator("#shopbot-widget .log")
    expect(log).to_contain_text("衣服太大了能换吗")
    expect(log).to_contain_text(product)
    # The order buttons were answered: they stay, but cannot be sent twice.
    expect(page.locator("#shopbot-widget .buttons button").first).to_be_disabled()


def test_a_script_typed_by_the_buyer_shows_as_text(page: Page, shop: str) -> None:
    open_chat(page, shop)
    typed = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2><b>粗</b>"
    say(page, typed)
    expect(page.locator(USER_MESSAGES).last).to_have_text(typed)
    expect(page.locator(BOT_MESSAGES).nth(1)).to_be_visible(timeout=ANSWER_S * 1000)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#shopbot-widget .log b, #shopbot-widget .log img").count() == 0


def test_enter_does_not_send_while_an_input_method_is_composing(page: Page, shop: str) -> None:
    open_chat(page, shop)
    box = page.locator("#shopbot-widget textarea")
    sent_before = page.locator(USER_MESSAGES).count()
    box.focus()
    # A real composition in Chromium's input method machinery: the buyer types
    # pinyin, Enter picks the candidate (keydown with isComposing).
    ime = page.context.new_cdp_session(page)
    ime.send("Input.imeSetComposition", {"text": "yi fu", "selectionStart": 5, "selectionEnd": 5})
    box.press("Enter")
    ime.send("Input.insertText", {"text": "衣服"})
    # Safari sends the confirming Enter after compositionend, with keyCode 229.
    box.dispatch_event("keydown", {"key": "Enter", "keyCode": 229})
    assert page.locator(USER_MESSAGES).count() == sent_before
    # (Simulated keys reach the text box, a real IME keeps its Enter: a newline.)
    expect(box).to_have_value(re.compile(r"^\s*衣服\s*$"))
    box.press("Enter")
    expect(page.locator(USER_MESSAGES)).to_have_count(sent_before + 1)
    expect(page.locator(USER_MESSAGES).last).to_have_text("衣服")
    expect(box).to_have_value("")


def test_the_chat_fits_a_phone(browser: Browser, shop: str) -> None:
    context = browser.new_context(
        viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    page = context.new_page()
    try:
        open_chat(page, shop)
        say(page, "退货运费谁出")
        expect(page.locator(BOT_MESSAGES).nth(1)).to_be_visible(timeout=ANSWER_S * 1000)
        panel = page.locator("#shopbot-widget .panel").bounding_box()
        assert panel is not None
        assert panel["x"] >= 0 and panel["x"] + panel["width"] <= 375
        assert panel["y"] >= 0 and panel["y"] + panel["height"] <= 667
        for part in ("textarea", ".compose button[type=submit]", ".compose .attach"):
            box = page.locator(f"#shopbot-widget {part}").bounding_box()
            assert box is not None and box["x"] + box["width"] <= 375, part
            assert box["y"] + box["height"] <= 667, part
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        screenshot(page, "phone")
    finally:
        context.close()


@pytest.fixture()
def own_bot(tmp_path: Path) -> Iterator[Bot]:
    """Servers of this test's own, whose Rasa server it may stop and start."""
    started = start_bot(tmp_path / "stack")
    try:
        yield started
    finally:
        started.stack.stop()


def shown_text(message: Dict[str, Any]) -> str:
    """A widget message as bot.assist.rasa.transcript writes a bot message."""
    titles = [b["title"] for b in message.get("buttons") or []]
    return " / ".join(part for part in (message["text"], *titles) if part)


def test_messages_sent_while_rasa_restarts_are_kept_and_answered_once(
    page: Page, own_bot: Bot
) -> None:
    stack = own_bot.stack
    with shop_page(own_bot) as shop:
        open_chat(page, shop)
        say(page, "在吗")
        expect(page.locator(BOT_MESSAGES)).to_have_count(2, timeout=ANSWER_S * 1000)
        before = widget_state(page)["messages"]
        sender: str = widget_state(page)["sender"]

        # The Rasa server stops for real; the buyer writes twice meanwhile.
        stack.stop_process("rasa")
        kept = ["退货运费谁出", "衣服太大了能换吗"]
        say(page, kept[0])
        status = page.locator("#shopbot-widget .status")
        expect(status).to_be_visible(timeout=10_000)
        expect(status).to_contain_text("正在重新连接")
        say(page, kept[1])
        pending = page.locator(f"{USER_MESSAGES}.pending")
        expect(pending).to_have_text(kept)
        # Nobody is typing an answer while the server is away.
        assert page.locator("#shopbot-widget .typing").is_hidden()
        screenshot(page, "reconnecting")

        # Rasa starts again on the same port while the test watches the page.
        with ThreadPoolExecutor(max_workers=1) as pool:
            restarted = pool.submit(stack.start_process, "rasa")
            deadline = time.monotonic() + RESTART_S
            while pending.count():
                if restarted.done() and restarted.exception() is not None:
                    raise AssertionError("Rasa did not start again") from restarted.exception()
                assert time.monotonic() < deadline, "the kept messages were never answered"
                page.wait_for_timeout(100)
            answered_at = time.time()
            restarted.result()
        expect(status).to_be_hidden()

        # Delivered once, in order, answered once: the widget shows what
        # Rasa's tracker holds, after the transcript from before the restart.
        after = widget_state(page)["messages"]
        assert after[: len(before)] == before
        assert [m["text"] for m in after[len(before) :] if m["from"] == "user"] == kept
        lines = own_bot.transcript(sender)
        buyer = [line for line in lines if line.role == "buyer"]
        assert [line.text for line in buyer] == kept
        bot_lines = [line.text for line in lines if line.role == "bot"]
        assert [shown_text(m) for m in after[len(before) :] if m["from"] == "bot"] == bot_lines
        ready = stack.ready_at["rasa"]
        assert buyer[0].at is not None
        delivered = datetime.fromisoformat(buyer[0].at).timestamp() - ready
        print(
            f"\nwidget: Rasa restarted in {stack.startup_seconds['rasa']:.1f} s; the first kept "
            f"message reached it {delivered:.2f} s after it was ready, both were answered "
            f"{answered_at - ready:.2f} s after"
        )

        # The transcript survives a reload, and nothing is sent again: the
        # next message is the last one the restarted Rasa sees.
        page.reload()
        log = page.locator("#shopbot-widget .log")
        for message in after:
            if message["text"]:
                expect(log).to_contain_text(message["text"])
        assert page.locator(USER_MESSAGES, has_text=kept[0]).count() == 1
        say(page, "谢谢")
        expect(page.locator(USER_MESSAGES).last).not_to_have_class(
            re.compile(r"\bpending\b"), timeout=ANSWER_S * 1000
        )
        lines = own_bot.transcript(sender)
        assert [line.text for line in lines if line.role == "buyer"] == [*kept, "谢谢"]


def test_the_channel_answers_browsers_of_the_configured_origin_only(bot: Bot) -> None:
    url = f"{bot.url}/webhooks/shop/webhook"
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = httpx.options(url, headers={"Origin": bot.shop_origin, **preflight}, timeout=10)
    assert allowed.headers.get("access-control-allow-origin") == bot.shop_origin
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    evil = httpx.options(url, headers={"Origin": "https://evil.example", **preflight}, timeout=10)
    assert "access-control-allow-origin" not in evil.headers
    # A browser call from elsewhere is refused outright, token or not.
    body = {"sender": "cors-probe", "message": "在吗"}
    headers = {"Authorization": f"Bearer {bot.token()}", "Origin": "https://evil.example"}
    refused = httpx.post(url, json=body, headers=headers, timeout=30)
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    headers["Origin"] = bot.shop_origin
    served = httpx.post(url, json=body, headers=headers, timeout=30)
    assert served.status_code == 200 and served.json()
    assert served.headers["access-control-allow-origin"] == bot.shop_origin


def test_the_widget_script_is_served_by_the_bot(bot: Bot) -> None:
    reply = httpx.get(f"{bot.url}/webhooks/shop/widget.js", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/javascript")
    assert "window.ShopBot" in reply.text


def test_a_buyer_sending_too_fast_gets_a_polite_answer_others_do_not(bot: Bot) -> None:
    url = f"{bot.url}/webhooks/shop/webhook"
    token = bot.token("rate_probe")
    statuses = []
    for index in range(60):  # the default limit: 30 messages a minute
        reply = httpx.post(
            url,
            json={"sender": f"rate-{index % 3}", "message": "在吗"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        statuses.append(reply.status_code)
        if reply.status_code != 200:
            break
    # A burst of 30 passes (plus what refills meanwhile, 1 every 2 s), then 429.
    assert 429 in statuses and 30 <= statuses.index(429) < 40, statuses
    assert int(reply.headers["retry-after"]) >= 1
    assert [m["text"] for m in reply.json()] == [domain_text("utter_rate_limited")]
    # Another identity is not held back.
    assert bot.say("rate-other", "在吗", subject="buyer_002")


def test_the_agents_reply_reaches_the_widget_during_a_handoff(
    page: Page, shop: str, bot: Bot, assist: str
) -> None:
    open_chat(page, shop)
    say(page, "在吗")
    expect(page.locator(BOT_MESSAGES).nth(1)).to_be_visible(timeout=ANSWER_S * 1000)
    sender: str = widget_state(page)["sender"]
    handoff_id = bot.hand_off(sender, buyer_said=["在吗"])
    answers = page.locator(BOT_MESSAGES).count()
    say(page, "我要投诉")
    # The channel's waiting answer marks the handoff: the widget starts
    # fetching the agent's messages (and shows the waiting text, if any).
    wait_for(page, "window.ShopBot.handedOff()", ANSWER_S)
    reply = bot.agent("POST", f"/assist/handoffs/{handoff_id}/reply", {"text": "亲，我是客服小王"})
    assert reply.status_code == 200, reply.text
    agent = page.locator("#shopbot-widget .msg.bot.agent")
    expect(agent).to_have_count(1, timeout=30_000)
    expect(agent).to_contain_text("亲，我是客服小王")
    expect(agent).to_contain_text("人工客服")
    screenshot(page, "handoff-agent-reply")
    # A reload carries on: the agent's reply stays, and is not shown twice.
    page.reload()
    expect(agent).to_have_count(1)
    assert page.evaluate("window.ShopBot.handedOff()")

    assert bot.agent("POST", f"/assist/handoffs/{handoff_id}/release").status_code == 200
    wait_for(page, "!window.ShopBot.handedOff()", 30)
    shown = page.locator(BOT_MESSAGES).count()
    assert shown >= answers + 1
    say(page, "退货运费谁出")
    expect(page.locator(BOT_MESSAGES).nth(shown)).to_be_visible(timeout=ANSWER_S * 1000)
    expect(agent).to_have_count(1)
