"""Tests of bot/demo_shop.py: the demo shop page that embeds the widget."""

from __future__ import annotations

import re
from typing import Iterator

import httpx
import pytest

from bot.auth import verify_token
from bot.demo_shop import WIDGET_PATH, make_server, render_page, serve_in_background

SECRET = "demo-shop-test-secret-0123456789abcdef"
BOT_URL = "http://127.0.0.1:5999"


@pytest.fixture()
def shop() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, BOT_URL, SECRET)
    try:
        yield serve_in_background(server)
    finally:
        server.shutdown()
        server.server_close()


def script_tag(page: str) -> str:
    tags = re.findall(r"<script[^>]*>", page)
    assert len(tags) == 1, tags  # the whole embed is one tag
    return tags[0]


def test_the_page_embeds_the_widget_with_a_fresh_token_of_the_buyer(shop: str) -> None:
    reply = httpx.get(f"{shop}/", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    tag = script_tag(reply.text)
    assert f'src="{BOT_URL}{WIDGET_PATH}"' in tag
    token = re.search(r'data-token="([^"]+)"', tag)
    assert token is not None
    identity = verify_token(SECRET, token.group(1))
    assert (identity.subject, identity.role) == ("buyer_001", "buyer")
    assert 'data-open="true"' in tag


def test_another_demo_buyer_and_a_closed_window_can_be_asked_for(shop: str) -> None:
    tag = script_tag(httpx.get(f"{shop}/?buyer=buyer_002&open=0", timeout=10).text)
    token = re.search(r'data-token="([^"]+)"', tag)
    assert token is not None and verify_token(SECRET, token.group(1)).subject == "buyer_002"
    assert 'data-open="false"' in tag


def test_the_page_may_load_scripts_and_call_only_the_bot_server(shop: str) -> None:
    reply = httpx.get(f"{shop}/", timeout=10)
    policy = reply.headers["content-security-policy"]
    assert "script-src http://127.0.0.1:5999;" in policy
    assert "connect-src http://127.0.0.1:5999;" in policy
    assert "default-src 'none'" in policy
    assert reply.headers["cache-control"] == "no-store"  # the page holds a token


@pytest.mark.parametrize("buyer", ["<script>", "a" * 65, "x y", "../etc"])
def test_a_bad_buyer_id_is_refused(shop: str, buyer: str) -> None:
    reply = httpx.get(f"{shop}/", params={"buyer": buyer}, timeout=10)
    assert reply.status_code == 400
    assert buyer not in reply.text


def test_other_paths_are_not_served(shop: str) -> None:
    for path in ("/web/demo/index.html", "/../bot/settings.py", "/favicon.ico"):
        assert httpx.get(f"{shop}{path}", timeout=10).status_code == 404


def test_values_are_html_escaped() -> None:
    page = render_page(
        '<a href="{{WIDGET_URL}}">{{BUYER}}</a>{{TOKEN}}{{OPEN}}',
        'http://x"><script>',
        "t<",
        "<b>",
        open_chat=False,
    )
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;b&gt;" in page and "t&lt;" in page and page.endswith("false")


def test_with_an_evidence_url_the_widget_gets_it_and_the_page_may_call_it() -> None:
    upload = "http://127.0.0.1:5998/evidence/upload"
    server = make_server("127.0.0.1", 0, BOT_URL, SECRET, evidence_url=upload)
    try:
        reply = httpx.get(f"{serve_in_background(server)}/", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert f'data-evidence-url="{upload}"' in script_tag(reply.text)
    policy = reply.headers["content-security-policy"]
    assert "connect-src http://127.0.0.1:5999 http://127.0.0.1:5998;" in policy
    assert "img-src 'self' data: blob:;" in policy


def test_without_an_evidence_url_the_widget_has_no_upload(shop: str) -> None:
    assert 'data-evidence-url=""' in script_tag(httpx.get(f"{shop}/", timeout=10).text)
