"""Tests of the chat channels' CORS rules: only configured origins."""

from __future__ import annotations

from bot.cors import cors_headers, origin_allowed

SHOPS = ("https://shop.example", "http://127.0.0.1:8080")


def test_requests_without_origin_are_not_browser_calls_and_pass() -> None:
    assert origin_allowed(None, SHOPS)
    assert cors_headers(None, SHOPS, preflight=False) == {}


def test_a_configured_origin_is_named_in_the_answer() -> None:
    headers = cors_headers("https://shop.example", SHOPS, preflight=False)
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Methods" not in headers


def test_origins_compare_case_insensitively_without_trailing_slash() -> None:
    assert origin_allowed("HTTPS://Shop.Example/", SHOPS)


def test_a_preflight_lists_the_methods_and_headers_the_widget_uses() -> None:
    headers = cors_headers("http://127.0.0.1:8080", SHOPS, preflight=True)
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    assert int(headers["Access-Control-Max-Age"]) > 0


def test_other_origins_get_nothing_and_are_refused() -> None:
    for origin in (
        "https://evil.example",
        "null",
        "http://127.0.0.1:8081",
        "https://shop.example.evil",
    ):
        assert not origin_allowed(origin, SHOPS)
        assert cors_headers(origin, SHOPS, preflight=True) == {}


def test_no_configured_origin_allows_no_browser_call() -> None:
    assert not origin_allowed("https://shop.example", ())
