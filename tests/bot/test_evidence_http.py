"""Tests of bot/evidence_http.py: the upload and the agent's view, over HTTP.

The assistant's app runs in process (httpx's ASGI transport) on the demo
database; Rasa is never called by these routes (its transport fails).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import AsyncIterator

import httpx
import pytest

from bot.assist.app import create_app
from bot.assist.rasa import RasaClient
from bot.auth import mint_token
from bot.evidence_http import CODES, MAX_FILE_ID, MessagesError, load_messages, megabytes
from bot.settings import Settings
from tests.bot.db_helpers import settings_for
from tests.bot.evidence_samples import HTML, JPEG, PNG

AGENT = "agent-token-for-evidence-tests-01"
SIGNED = "2026110200012"  # buyer_001's open demo claim (seller_signed)
SHOP = "http://shop.test"

pytestmark = pytest.mark.anyio


@pytest.fixture()
def settings(demo_url: str, tmp_path: Path) -> Settings:
    return settings_for(
        demo_url,
        tmp_path,
        **{
            "SHOPBOT_AGENT_TOKEN": AGENT,
            "SHOPBOT_JWT_SECRET": "evidence-test-secret-0123456789abcdef",
            "SHOPBOT_CORS_ORIGINS": SHOP,
            "SHOPBOT_UPLOAD_MAX_BYTES": "1024",
        },
    )


def _no_rasa(request: httpx.Request) -> httpx.Response:
    raise AssertionError("the evidence routes must not call Rasa")


@pytest.fixture()
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    rasa = RasaClient("http://rasa.test", "t", transport=httpx.MockTransport(_no_rasa))
    app = create_app(settings, rasa)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://assist.test"
    ) as api:
        yield api


def _buyer(settings: Settings, buyer: str = "buyer_001", role: str = "buyer") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings.signing_secret(), buyer, role)}"}


def _stored(settings: Settings) -> list[str]:
    folder = settings.upload_dir
    return sorted(os.listdir(folder)) if folder.exists() else []


async def test_upload_then_the_agent_sees_and_fetches_the_photo(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    reply = await client.post(
        "/evidence/upload",
        params={"order": SIGNED},
        content=PNG,
        headers={**_buyer(settings), "Content-Type": "image/jpeg", "Origin": SHOP},
    )
    assert reply.status_code == 201
    body = reply.json()
    assert body["outcome"] == "ok" and body["message"] == load_messages()["ok"]
    assert body["file"]["mime"] == "image/png" and body["file"]["order_id"] == SIGNED
    assert reply.headers["access-control-allow-origin"] == SHOP
    assert len(_stored(settings)) == 1

    agent = {"Authorization": f"Bearer {AGENT}"}
    assert (await client.get(f"/evidence/orders/{SIGNED}")).status_code == 401
    listing = await client.get(f"/evidence/orders/{SIGNED}", headers=agent)
    assert listing.status_code == 200
    files = listing.json()["files"]
    assert [f["stored_name"] for f in files] == _stored(settings)
    photo = await client.get(f"/evidence/files/{files[0]['id']}", headers=agent)
    assert photo.status_code == 200 and photo.content == PNG
    assert photo.headers["content-type"] == "image/png"
    assert photo.headers["x-content-type-options"] == "nosniff"
    assert photo.headers["content-disposition"] == f"inline; filename={files[0]['stored_name']}"
    assert (await client.get(f"/evidence/files/{files[0]['id']}")).status_code == 401
    assert (await client.get("/evidence/files/999", headers=agent)).status_code == 404
    for huge in (MAX_FILE_ID + 1, 10**30):  # beyond the column: not found, not a crash
        assert (await client.get(f"/evidence/files/{huge}", headers=agent)).status_code == 404
    assert (await client.get("/evidence/orders/2026100300002", headers=agent)).status_code == 404


@pytest.mark.parametrize(
    ("query", "content", "status", "outcome"),
    [
        ({"order": SIGNED}, HTML, 415, "bad_type"),
        ({"order": SIGNED}, b"", 400, "empty"),
        ({"order": SIGNED}, JPEG + b"\x00" * 2000, 413, "too_large"),
        ({"order": "../../etc/passwd"}, PNG, 404, "no_open_claim"),
        ({"order": f"{SIGNED}\x00"}, PNG, 404, "no_open_claim"),
        ({"order": "2026110500101"}, PNG, 404, "no_open_claim"),  # buyer_002's order
        ({}, PNG, 400, "bad_request"),
        ({"order": SIGNED, "item": "x" * 200}, PNG, 422, "bad_item"),
    ],
)
async def test_abuse_gets_a_chinese_message_and_stores_nothing(
    client: httpx.AsyncClient,
    settings: Settings,
    query: dict[str, str],
    content: bytes,
    status: int,
    outcome: str,
) -> None:
    reply = await client.post(
        "/evidence/upload",
        params=query,
        content=content,
        headers={**_buyer(settings), "X-Filename": "../../etc/passwd"},
    )
    assert (reply.status_code, reply.json()["outcome"]) == (status, outcome)
    message = reply.json()["message"]
    assert message.startswith(load_messages()[outcome].split("{")[0]) and "{" not in message
    assert _stored(settings) == []


async def test_an_endless_body_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield PNG
        for _ in range(10_000):
            sent += 1
            yield b"\x00" * 512

    reply = await client.post(
        "/evidence/upload", params={"order": SIGNED}, content=chunks(), headers=_buyer(settings)
    )
    assert reply.json()["outcome"] == "too_large" and _stored(settings) == []
    assert sent < 10  # abandoned after ~1 kB, not read to the end


@pytest.mark.parametrize(
    ("headers", "status", "outcome"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Bearer not-a-token"}, 401, "unauthorized"),
        ({"Origin": "http://evil.test"}, 403, "forbidden"),
    ],
)
async def test_tokens_and_origins_are_checked(
    client: httpx.AsyncClient,
    settings: Settings,
    headers: dict[str, str],
    status: int,
    outcome: str,
) -> None:
    if "Origin" in headers:
        headers = {**headers, **_buyer(settings)}
    reply = await client.post(
        "/evidence/upload", params={"order": SIGNED}, content=PNG, headers=headers
    )
    assert (reply.status_code, reply.json()["outcome"]) == (status, outcome)
    assert "access-control-allow-origin" not in reply.headers
    assert _stored(settings) == []


async def test_a_seller_token_cannot_upload(client: httpx.AsyncClient, settings: Settings) -> None:
    reply = await client.post(
        "/evidence/upload",
        params={"order": SIGNED},
        content=PNG,
        headers=_buyer(settings, "shop_01", role="seller"),
    )
    assert reply.status_code == 403 and _stored(settings) == []


async def test_preflight_names_only_listed_origins(client: httpx.AsyncClient) -> None:
    ok = await client.options("/evidence/upload", headers={"Origin": SHOP})
    assert ok.headers["access-control-allow-origin"] == SHOP
    assert "POST" in ok.headers["access-control-allow-methods"]
    evil = await client.options("/evidence/upload", headers={"Origin": "http://evil.test"})
    assert "access-control-allow-origin" not in evil.headers


def test_every_code_has_a_message(tmp_path: Path) -> None:
    messages = load_messages()
    assert set(CODES) <= set(messages) and all(messages[c].strip() for c in CODES)
    partial = tmp_path / "messages.yml"
    partial.write_text("ok: 好\n", encoding="utf-8")
    with pytest.raises(MessagesError, match="no text for"):
        load_messages(partial)
    partial.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(MessagesError):
        load_messages(partial)


def test_megabytes_are_shown_short() -> None:
    assert megabytes(5 * 1024 * 1024) == "5"
    assert megabytes(1536 * 1024) == "1.5"
