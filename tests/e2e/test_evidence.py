"""End to end: a buyer attaches evidence photos in the widget, the agent sees them.

The widget runs on the demo shop page (the ``shop`` fixture: bot/demo_shop.py
on the one accepted shop origin) and uploads to the real assistant process;
the console of that process shows the photo. Screenshots go to ``results/tests/evidence/``.
"""

from __future__ import annotations

import struct
import zlib

import httpx
from playwright.sync_api import Page, expect

from bot.evidence_http import load_messages
from tests.e2e.conftest import AGENT_TOKEN, screenshot

SIGNED = "2026110200012"  # buyer_001's demo claim: seller signed, not refunded (open)
ANSWER_MS = 60_000
WIDGET = "#shopbot-widget"


def tiny_png() -> bytes:
    """A real 2×2 orange PNG (decodable by the browser)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x50\x00" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_a_photo_reaches_the_claim_and_the_console_abuse_stores_nothing(
    page: Page, shop: str, assist: str
) -> None:
    messages = load_messages()
    page.goto(f"{shop}/")
    expect(page.locator(f"{WIDGET} .msg.bot").first).to_be_visible(timeout=ANSWER_MS)
    page.evaluate("window.ShopBot.clear()")
    files = page.locator(f"{WIDGET} input[type=file]")

    # No order named yet: the widget asks for one and sends nothing.
    files.set_input_files({"name": "a.png", "mimeType": "image/png", "buffer": tiny_png()})
    expect(page.locator(f"{WIDGET} .msg.note").last).to_contain_text("订单号")

    box = page.locator(f"{WIDGET} textarea")
    box.fill(f"订单{SIGNED}退货了还没退款")
    box.press("Enter")
    expect(page.locator(f"{WIDGET} .msg.bot").last).to_be_visible(timeout=ANSWER_MS)

    # A script disguised as a photo with a path-trick name: refused, nothing stored.
    files.set_input_files(
        {"name": "../../etc/passwd.png", "mimeType": "image/png", "buffer": b"<script>1</script>"}
    )
    expect(page.locator(f"{WIDGET} .msg.bot").last).to_have_text(messages["bad_type"])

    files.set_input_files({"name": "照片.png", "mimeType": "image/png", "buffer": tiny_png()})
    expect(page.locator(f"{WIDGET} .msg.bot").last).to_have_text(messages["ok"])
    expect(page.locator(f"{WIDGET} .msg.user img").last).to_be_visible()
    screenshot(page, "widget-upload", folder="evidence")

    auth = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    listing = httpx.get(f"{assist}/evidence/orders/{SIGNED}", headers=auth, timeout=10).json()
    assert [f["mime"] for f in listing["files"]] == ["image/png"]
    assert listing["files"][0]["size"] == len(tiny_png())

    page.goto(
        f"{assist}/console/?conversation=evidence-e2e&buyer=buyer_001&order={SIGNED}"
        f"#token={AGENT_TOKEN}"
    )
    expect(page.locator("#evidence-status")).to_contain_text("1 张凭证", timeout=ANSWER_MS)
    image = page.locator("#evidence img")
    expect(image).to_have_count(1)
    # (Not page.wait_for_function: the console's CSP forbids the eval it polls with.)
    expect(image).to_have_js_property("naturalWidth", 2, timeout=10_000)
    screenshot(page, "console-evidence", folder="evidence")
