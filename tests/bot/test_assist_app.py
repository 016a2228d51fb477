"""Tests of bot/assist/app.py and bot/assist/service.py: the HTTP contract.

The service runs in process (httpx's ASGI transport) on the demo database;
Rasa is a fake HTTP server (httpx's mock transport) that records every call,
so the tests can check that the assistant only parses and reads.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List

import httpx
import pytest

from bot.assist.app import bearer_matches, create_app
from bot.assist.rasa import RasaClient
from bot.db.models import EVIDENCE_MIME_TYPES
from bot.db.session import dispose_engines
from bot.devtools import free_port
from bot.evidence_http import CODES as EVIDENCE_CODES
from bot.evidence_http import MAX_FILE_ID
from bot.evidence_http import STATUS as EVIDENCE_STATUS
from bot.services import EvidenceView
from bot.settings import Settings, load_settings
from tests.bot.db_helpers import row_counts

TOKEN = "agent-token-for-tests-0123456789"
RASA_TOKEN = "rasa-token-for-tests"
OWN = "2026111000001"  # buyer_001: completed 2026-11-16, W1 open through 2026-12-01
OTHERS = "2026110500101"  # buyer_002's order

PARSES: Dict[str, Dict[str, Any]] = {
    "衣服太大了能换吗": {
        "intent": {"name": "size_issue", "confidence": 0.91},
        "intent_ranking": [
            {"name": "size_issue", "confidence": 0.91},
            {"name": "exchange_goods", "confidence": 0.06},
        ],
        "entities": [],
    },
    f"订单{OWN}衣服太大了": {
        "intent": {"name": "size_issue", "confidence": 0.88},
        "entities": [{"entity": "order_id", "value": OWN}],
    },
    "在吗": {"intent": {"name": "greet", "confidence": 0.99}, "entities": []},
}
TRACKER = {
    "sender_id": "conv-1",
    "events": [
        {"event": "action", "name": "action_session_start", "timestamp": 1795000000.0},
        {
            "event": "user",
            "text": "衣服太大了能换吗",
            "timestamp": 1795000001.5,
            "parse_data": {"intent": {"name": "size_issue", "confidence": 0.9}},
        },
        {
            "event": "bot",
            "text": "亲，请问是哪一笔订单呢？",
            "timestamp": 1795000002.0,
            "data": {"buttons": [{"title": "T恤 · 11月10日 · 2026111000001", "payload": "/x"}]},
        },
        {"event": "bot", "text": None, "data": {}},
    ],
}


class FakeRasa:
    """Rasa's HTTP API as far as the assistant uses it; records each call."""

    def __init__(self) -> None:
        self.calls: List[httpx.Request] = []
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        if request.url.params.get("token") != RASA_TOKEN:
            return httpx.Response(401, json={"message": "no token"})
        if request.method == "POST" and request.url.path == "/model/parse":
            text = json.loads(request.content)["text"]
            return httpx.Response(200, json=PARSES.get(text, {"intent": None, "entities": []}))
        if request.method == "GET" and request.url.path.endswith("/tracker"):
            return httpx.Response(200, json=TRACKER)
        if request.method == "POST" and request.url.path.endswith("/tracker/events"):
            return httpx.Response(200, json={"sender_id": "conv-1", "events": None})
        return httpx.Response(404, json={"message": "not found"})


def _settings(url: str, tmp_path: Path, token: str | None = TOKEN) -> Settings:
    env = {
        "SHOPBOT_DB_URL": url,
        "SHOPBOT_VAR_DIR": str(tmp_path),
        "SHOPBOT_TODAY": "2026-11-24",
        "SHOPBOT_RASA_TOKEN": RASA_TOKEN,
    }
    if token is not None:
        env["SHOPBOT_AGENT_TOKEN"] = token
    return load_settings(env)


@pytest.fixture()
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture()
def settings(demo_url: str, tmp_path: Path) -> Settings:
    return _settings(demo_url, tmp_path)


def _client(settings: Settings, rasa: FakeRasa) -> httpx.AsyncClient:
    client = RasaClient("http://rasa.test", RASA_TOKEN, transport=httpx.MockTransport(rasa.handle))
    app = create_app(settings, client)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://assist.test")


@pytest.fixture()
async def api(settings: Settings, rasa: FakeRasa) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(settings, rasa) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


def _ask(message: str, order_id: str | None = None, buyer: str = "buyer_001") -> Dict[str, Any]:
    body: Dict[str, Any] = {"conversation_id": "conv-1", "buyer_id": buyer, "message": message}
    if order_id is not None:
        body["order_id"] = order_id
    return body


pytestmark = pytest.mark.anyio


async def test_suggestions_are_grounded_in_the_buyers_order(
    api: httpx.AsyncClient, rasa: FakeRasa
) -> None:
    reply = await api.post("/assist/suggest", json=_ask("衣服太大了能换吗", OWN))
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["intent"] == "size_issue"
    assert 1 <= len(answer["suggestions"]) <= 3
    best = answer["suggestions"][0]
    assert best["intent"] == "size_issue" and best["confidence"] == 0.91
    assert "2026年12月1日" in best["text"] and "W1" in best["rule_ids"]
    assert answer["order"]["order_id"] == OWN and answer["order"]["price"] == "79.00"
    assert answer["order"]["completed_at"].startswith("2026-11-16T23:30:00+08:00")
    decision = answer["decision"]
    assert decision["problem"] == "size_issue" and decision["window_end"] == "2026-12-01"
    assert decision["rules"] == best["rule_ids"][: len(decision["rules"])]
    assert len(answer["request_id"]) == 32


async def test_the_order_id_found_by_nlu_is_used(api: httpx.AsyncClient) -> None:
    answer = (await api.post("/assist/suggest", json=_ask(f"订单{OWN}衣服太大了"))).json()
    assert answer["order"]["order_id"] == OWN and answer["decision"] is not None


async def test_a_foreign_order_is_like_a_missing_one(api: httpx.AsyncClient) -> None:
    foreign = (await api.post("/assist/suggest", json=_ask("衣服太大了能换吗", OTHERS))).json()
    missing = (await api.post("/assist/suggest", json=_ask("衣服太大了能换吗", "1"))).json()
    for answer in (foreign, missing):
        assert answer["order"] is None and answer["decision"] is None
        assert [s["text"] for s in answer["suggestions"]] == [
            s["text"] for s in foreign["suggestions"]
        ]
        assert OTHERS not in json.dumps(answer, ensure_ascii=False)


async def test_the_assistant_only_parses_and_never_opens_a_claim(
    api: httpx.AsyncClient, rasa: FakeRasa, settings: Settings
) -> None:
    before = row_counts(settings.db_url)
    for message in PARSES:
        assert (await api.post("/assist/suggest", json=_ask(message, OWN))).status_code == 200
    assert (await api.get("/assist/conversations/conv-1/transcript")).status_code == 200
    assert {(c.method, c.url.path) for c in rasa.calls} == {
        ("POST", "/model/parse"),
        ("GET", "/conversations/conv-1/tracker"),
    }
    assert row_counts(settings.db_url) == before


async def test_a_long_message_reaches_nlu_cut_to_its_end(
    api: httpx.AsyncClient, rasa: FakeRasa
) -> None:
    message = "啰嗦" * 3000 + "衣服太大了能换吗"
    assert (await api.post("/assist/suggest", json=_ask(message))).status_code == 200
    sent = json.loads(rasa.calls[-1].content)["text"]
    assert len(sent) == 2000 and sent.endswith("衣服太大了能换吗")


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", f"bearer  {TOKEN}"],
)
async def test_the_agent_token_is_required(
    settings: Settings, rasa: FakeRasa, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    async with _client(settings, rasa) as client:
        paths = [("POST", "/assist/suggest"), ("POST", "/assist/feedback")]
        paths += [("GET", "/assist/figures"), ("GET", "/assist/conversations/c/transcript")]
        for method, path in paths:
            reply = await client.request(method, path, json=_ask("在吗"), headers=headers)
            if header == f"bearer  {TOKEN}":  # the scheme is case-insensitive
                assert reply.status_code in (200, 422), path
                continue
            assert reply.status_code == 401, path
            assert reply.headers["www-authenticate"] == "Bearer"
    if header != f"bearer  {TOKEN}":
        assert rasa.calls == []


def test_bearer_comparison() -> None:
    assert bearer_matches(f"Bearer {TOKEN}", TOKEN)
    assert not bearer_matches(None, TOKEN)
    assert not bearer_matches("Bearer 令牌", TOKEN)


async def test_without_an_agent_token_the_assistant_is_off(
    demo_url: str, tmp_path: Path, rasa: FakeRasa
) -> None:
    async with _client(_settings(demo_url, tmp_path, token=None), rasa) as client:
        reply = await client.post("/assist/suggest", json=_ask("在吗"))
        assert reply.status_code == 503 and reply.json()["error"] == "assistant_off"
        assert (await client.get("/assist/health")).json() == {
            "status": "ok",
            "assistant": False,
        }


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"\xff\xfe", 400, None),
        (b"[]", 422, "body"),
        (b'{"conversation_id": "c", "buyer_id": "buyer_001"}', 422, "message"),
        (b'{"conversation_id": "c", "buyer_id": "buyer_001", "message": "   "}', 422, "message"),
        (b'{"conversation_id": "c d", "buyer_id": "b", "message": "x"}', 422, "conversation_id"),
        (b'{"conversation_id": "c", "buyer_id": "b\\u0000", "message": "x"}', 422, "buyer_id"),
        (b'{"conversation_id": "c", "buyer_id": 7, "message": "x"}', 422, "buyer_id"),
        (
            b'{"conversation_id": "c", "buyer_id": "b", "message": "x", "order_id": 5}',
            422,
            "order_id",
        ),
    ],
)
async def test_bad_bodies_get_clear_client_errors(
    api: httpx.AsyncClient, rasa: FakeRasa, body: bytes, status: int, field: str | None
) -> None:
    reply = await api.post(
        "/assist/suggest", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == status, reply.text
    if field is not None:
        assert field in [e["field"] for e in reply.json()["errors"]]
        assert "\\u0000" not in reply.text  # values are not echoed back
    assert rasa.calls == []


async def test_an_oversized_body_is_refused(api: httpx.AsyncClient) -> None:
    reply = await api.post("/assist/suggest", content=b"{" + b" " * 70_000 + b"}")
    assert reply.status_code == 413


async def test_control_characters_only_need_no_nlu(api: httpx.AsyncClient, rasa: FakeRasa) -> None:
    reply = await api.post("/assist/suggest", json=_ask("\u0001\u0002"))
    assert reply.status_code == 200 and reply.json()["suggestions"] == []
    assert rasa.calls == []


async def test_rasa_down_is_a_clear_503(api: httpx.AsyncClient, rasa: FakeRasa) -> None:
    rasa.down = True
    reply = await api.post("/assist/suggest", json=_ask("在吗"))
    assert reply.status_code == 503 and reply.json()["error"] == "nlu_unavailable"
    assert reply.headers["retry-after"] == "5"


async def test_an_unreachable_database_is_a_clear_503_without_secrets(
    tmp_path: Path, rasa: FakeRasa, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql+psycopg://shop:pw-not-logged@127.0.0.1:{free_port()}/orders"
    async with _client(_settings(url, tmp_path), rasa) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        replies = [
            await client.post("/assist/suggest", json=_ask("衣服太大了能换吗", OWN)),
            await client.get("/assist/handoffs"),
            await client.get("/assist/figures"),
        ]
    dispose_engines()
    for reply in replies:
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"] == "database_unavailable"
        assert reply.headers["retry-after"] == "5"
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.assist.app"]
    assert len(lines) == 3 and all("unavailable" in line for line in lines)
    assert "/assist/handoffs" in lines[1] and "postgresql 127.0.0.1" in lines[1]
    assert "pw-not-logged" not in caplog.text


async def test_feedback_gives_coverage_and_acceptance(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    async def event(request_id: str, event: str, **extra: Any) -> None:
        body = {"request_id": request_id, "conversation_id": "conv-1", "event": event, **extra}
        reply = await api.post("/assist/feedback", json=body)
        assert reply.status_code == 200 and reply.json() == {"recorded": True}

    await event("set-aaaa1", "shown", count=3, intent="size_issue")
    await event("set-aaaa1", "shown", count=3)  # reported twice: counted once
    await event("set-aaaa1", "clicked", rank=0, intent="size_issue")
    await event("set-aaaa1", "edited", rank=0)
    await event("set-bbbb2", "shown", count=2)
    await event("set-bbbb2", "ignored")
    await event("set-cccc3", "shown", count=0)
    await event("set-dddd4", "shown", count=1)
    await event("set-dddd4", "clicked", rank=1)
    # Reports about sets never shown with suggestions do not count.
    await event("set-cccc3", "clicked", rank=0)
    await event("set-eeee5", "clicked", rank=2)
    await event("set-eeee5", "edited", rank=2)
    await event("set-ffff6", "ignored")
    figures = (await api.get("/assist/figures")).json()
    assert figures == {
        "shown": 4,
        "with_suggestions": 3,
        "accepted": 2,
        "edited": 1,
        "ignored": 1,
        "coverage": 0.75,
        "acceptance": 0.6667,
        "edit_rate": 0.5,
        "clicked_by_rank": {"0": 1, "1": 1},
    }


@pytest.mark.parametrize(
    "body",
    [
        {"request_id": "short", "conversation_id": "c", "event": "shown"},
        {"request_id": "set-aaaa1", "conversation_id": "c", "event": "liked"},
        {"request_id": "set-aaaa1", "conversation_id": "c", "event": "clicked", "rank": 3},
        {"request_id": "set-aaaa1", "conversation_id": "c", "event": "shown", "count": -1},
        {"request_id": "set-aaaa1", "conversation_id": "c", "event": "shown", "intent": "X'"},
    ],
)
async def test_bad_feedback_is_refused_and_not_stored(
    api: httpx.AsyncClient, settings: Settings, body: Dict[str, Any]
) -> None:
    assert (await api.post("/assist/feedback", json=body)).status_code == 422
    assert (await api.get("/assist/figures")).json()["shown"] == 0


async def test_figures_without_events_have_no_shares(api: httpx.AsyncClient) -> None:
    figures = (await api.get("/assist/figures")).json()
    assert figures["shown"] == 0 and figures["coverage"] is None
    assert figures["acceptance"] is None and figures["edit_rate"] is None


async def test_transcript_reads_the_tracker(api: httpx.AsyncClient, rasa: FakeRasa) -> None:
    reply = await api.get("/assist/conversations/conv-1/transcript")
    assert reply.status_code == 200
    lines = reply.json()["lines"]
    assert [(line["role"], line["intent"]) for line in lines] == [
        ("buyer", "size_issue"),
        ("bot", None),
    ]
    assert lines[0]["text"] == "衣服太大了能换吗"
    assert lines[1]["text"].endswith("T恤 · 11月10日 · 2026111000001")
    assert lines[0]["at"].startswith("2026-")
    weird = await api.get("/assist/conversations/a%2Fb%20c/transcript")
    assert weird.status_code == 422


async def test_openapi_document_describes_every_route(api: httpx.AsyncClient) -> None:
    document = (await api.get("/assist/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    # (The handoff routes' paths: tests/bot/test_handoff_routes.py.)
    assert {
        "/assist/suggest",
        "/assist/feedback",
        "/assist/figures",
        "/assist/conversations/{conversation_id}/transcript",
        "/evidence/upload",
        "/evidence/orders/{order_id}",
        "/evidence/files/{file_id}",
    } <= set(document["paths"])
    schema = document["components"]["schemas"]["SuggestRequest"]
    assert set(schema["required"]) == {"conversation_id", "buyer_id", "message"}
    event = document["components"]["schemas"]["FeedbackRequest"]["properties"]["event"]
    from bot.db.models import FEEDBACK_EVENTS

    assert tuple(event["enum"]) == FEEDBACK_EVENTS


async def test_openapi_document_describes_the_evidence_routes(api: httpx.AsyncClient) -> None:
    document = (await api.get("/assist/openapi.json")).json()
    schemas = document["components"]["schemas"]
    upload = document["paths"]["/evidence/upload"]["post"]
    assert upload["security"] == [{"buyerToken": []}]
    assert document["components"]["securitySchemes"]["buyerToken"]["scheme"] == "bearer"
    required = {p["name"]: p["required"] for p in upload["parameters"]}
    assert required == {"order": True, "item": False}
    media = set(upload["requestBody"]["content"])
    assert media == {*EVIDENCE_MIME_TYPES, "application/octet-stream"}
    assert set(upload["responses"]) == {str(status) for status in EVIDENCE_STATUS.values()}
    assert schemas["EvidenceUploadOut"]["properties"]["outcome"]["enum"] == list(EVIDENCE_CODES)
    assert set(schemas["EvidenceUploadOut"]["required"]) == {"outcome", "message"}
    listing = document["paths"]["/evidence/orders/{order_id}"]["get"]
    assert listing["security"] == [{"agentToken": []}]
    assert set(listing["responses"]) == {"200", "401", "404", "503"}
    files = schemas["ClaimEvidenceOut"]["properties"]["files"]["items"]["$ref"]
    record = schemas[files.rsplit("/", 1)[1]]
    assert set(record["required"]) == {f.name for f in fields(EvidenceView)}
    photo = document["paths"]["/evidence/files/{file_id}"]["get"]
    assert set(photo["responses"]["200"]["content"]) == set(EVIDENCE_MIME_TYPES)
    assert photo["parameters"][0]["schema"]["maximum"] == MAX_FILE_ID


async def test_console_is_served_with_a_strict_policy(api: httpx.AsyncClient) -> None:
    page = await api.get("/console/")
    assert page.status_code == 200 and "客服工作台" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = await api.get("/console/console.js")
    assert script.headers["content-type"].startswith("application/javascript")
    assert (await api.get("/console/../bot/settings.py")).status_code == 404
    assert (await api.get("/console/secret.txt")).status_code == 404
    redirect = await api.get("/console", follow_redirects=False)
    assert redirect.status_code == 308 and redirect.headers["location"] == "/console/"
    assert (await api.get("/nowhere")).json()["error"] == "not_found"
    assert (await api.delete("/assist/suggest")).status_code == 405


async def test_daily_figures_show_what_the_event_consumer_counted(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    from bot.daily_figures import record
    from bot.event_counts import count
    from tests.bot import rasa_events as ev

    events = [
        ev.user("c1", "衣服太大了能退吗", "size_issue"),
        ev.user("c1", "好的", "affirm", at=ev.NOON + 5),
        ev.claim_opened("c1", at=ev.NOON + 6),
        ev.user("c2", "阿巴阿巴", "nlu_fallback", at=ev.NOON + 7),
        ev.user("c2", "转人工", "request_human", at=ev.NOON + 8),
        ev.handoff("c2", at=ev.NOON + 9),
        ev.user("c2", "昨天的", "greet", at=ev.NOON - 86400),
    ]
    for event in events:
        counted = count(event)
        assert counted is not None
        record(settings.db_url, counted, settings.now())
    today = (await api.get("/assist/figures/daily")).json()  # SHOPBOT_TODAY: 2026-11-24
    assert [d["first_day"] for d in today["days"]] == ["2026-11-24"]
    total = today["total"]
    assert (total["conversations"], total["messages"], total["fallback_rate"]) == (2, 4, 0.25)
    assert (total["claims_opened"], total["handoffs"]) == (1, 1)
    assert total["handoff_reasons"] == {"request_human": 1}
    assert today["intent_titles"]["size_issue"] == "尺码不合适"
    week = (await api.get("/assist/figures/daily?day=2026-11-24&days=7")).json()
    assert [d["messages"] for d in week["days"]] == [0, 0, 0, 0, 0, 1, 4]
    assert (week["total"]["first_day"], week["total"]["messages"]) == ("2026-11-18", 5)
    assert week["total"]["conversations"] == 2  # c2 wrote on two days: one conversation
    other = (await api.get("/assist/figures/daily?day=2026-11-20")).json()["total"]
    assert other["messages"] == 0 and other["fallback_rate"] is None


@pytest.mark.parametrize(
    "query",
    [
        "day=2026-13-01",
        "day=20261124",
        "day=2026-W48-2",
        "day=",
        "days=0",
        "days=32",
        "days=x",
        "day=0001-01-01&days=2",
    ],
)
async def test_daily_figures_refuse_bad_days(api: httpx.AsyncClient, query: str) -> None:
    reply = await api.get(f"/assist/figures/daily?{query}")
    assert reply.status_code == 422
    assert reply.json()["error"] in ("invalid_day", "invalid_days")


async def test_daily_figures_need_the_agent_token(settings: Settings, rasa: FakeRasa) -> None:
    async with _client(settings, rasa) as client:
        assert (await client.get("/assist/figures/daily")).status_code == 401
    document = (await _client(settings, rasa).get("/assist/openapi.json")).json()
    daily = document["paths"]["/assist/figures/daily"]["get"]
    assert daily["security"] == [{"agentToken": []}]
    assert {p["name"] for p in daily["parameters"]} == {"day", "days"}
    assert set(document["components"]["schemas"]["DailyFiguresOut"]["required"]) == {
        "days",
        "total",
        "intent_titles",
    }
