"""Tests of bot/assist/handoff_routes.py: the queue, replies and release over HTTP.

The service runs in process on the demo database, with the fake Rasa of
tests/bot/test_assist_app.py (it records every call, so the tests see each
event appended to a conversation).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List

import httpx
import pytest
from sqlalchemy import select

from bot.assist.rasa import conversation_path, transcript
from bot.db.models import ImOutbox
from bot.db.session import session_scope
from bot.handoffs import HandoffView, get_handoff, is_handed_off, record_handoff
from bot.messages import MAX_MESSAGE_LENGTH
from bot.outbox import Queue, deliver_next
from bot.settings import Settings, load_settings
from tests.bot.db_helpers import settings_for
from tests.bot.test_assist_app import RASA_TOKEN, TOKEN, FakeRasa, _client

IM_SECRET = "im-secret-for-handoff-tests"
CALLBACK = "https://im.example/callback"
SUMMARY = {
    "order": {"order_id": "2026111000001", "product": "纯棉T恤"},
    "decision": {"route_name": "七天无理由退货", "window_end": "2026-12-01"},
    "evidence": "未上传",
    "buyer_said": ["我要找人工"],
}

pytestmark = pytest.mark.anyio


@pytest.fixture()
def settings(demo_url: str, tmp_path: Path) -> Settings:
    return settings_for(
        demo_url,
        tmp_path,
        **{
            "SHOPBOT_RASA_TOKEN": RASA_TOKEN,
            "SHOPBOT_AGENT_TOKEN": TOKEN,
            "SHOPBOT_IM_SECRET": IM_SECRET,
            "SHOPBOT_IM_CALLBACK_URL": CALLBACK,
        },
    )


@pytest.fixture()
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture()
async def api(settings: Settings, rasa: FakeRasa) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(settings, rasa) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


def handoff(settings: Settings, conversation: str = "web-1", channel: str = "shop") -> HandoffView:
    return record_handoff(
        settings,
        conversation_id=conversation,
        channel=channel,
        subject="buyer_001",
        role="buyer",
        reason="request_human",
        order_id="2026111000001",
        problem="size_issue",
        summary=SUMMARY,
    )


def appended(rasa: FakeRasa) -> List[tuple[str, Dict[str, Any]]]:
    """The events appended to conversations: (path, event)."""
    return [
        (call.url.path, json.loads(call.content))
        for call in rasa.calls
        if call.method == "POST" and call.url.path.endswith("/tracker/events")
    ]


async def test_the_queue_lists_open_handoffs_oldest_first_with_summaries(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    first = handoff(settings, "web-1")
    second = handoff(settings, "im:c-9", channel="im")
    reply = await api.get("/assist/handoffs")
    assert reply.status_code == 200, reply.text
    cases = reply.json()["handoffs"]
    assert [c["id"] for c in cases] == [first.id, second.id]
    assert cases[0]["summary"] == SUMMARY
    assert cases[0]["status"] == "open" and cases[1]["channel"] == "im"
    assert cases[0]["created_at"].endswith("+08:00")
    assert [c["id"] for c in (await api.get("/assist/handoffs?limit=1")).json()["handoffs"]] == [
        first.id
    ]


@pytest.mark.parametrize("limit", ["0", "201", "x", "-1", "1e3"])
async def test_a_bad_limit_is_422(api: httpx.AsyncClient, limit: str) -> None:
    reply = await api.get(f"/assist/handoffs?limit={limit}")
    assert reply.status_code == 422 and reply.json()["error"] == "invalid_limit"


async def test_release_resumes_the_conversation_then_marks_it_released(
    api: httpx.AsyncClient, settings: Settings, rasa: FakeRasa
) -> None:
    case = handoff(settings)
    reply = await api.post(f"/assist/handoffs/{case.id}/release", json={"agent": "小王"})
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["resumed"] is True
    assert answer["handoff"]["status"] == "released" and answer["handoff"]["released_by"] == "小王"
    assert appended(rasa) == [("/conversations/web-1/tracker/events", {"event": "resume"})]
    assert rasa.calls[-1].url.params["token"] == RASA_TOKEN
    assert not is_handed_off(settings, "web-1")
    # Again: idempotent, Rasa is not asked again.
    again = await api.post(f"/assist/handoffs/{case.id}/release")
    assert again.status_code == 200 and again.json()["resumed"] is False
    assert again.json()["handoff"]["released_by"] == "小王"
    assert len(appended(rasa)) == 1


async def test_with_rasa_down_release_is_502_and_changes_nothing(
    api: httpx.AsyncClient, settings: Settings, rasa: FakeRasa
) -> None:
    case = handoff(settings)
    rasa.down = True
    reply = await api.post(f"/assist/handoffs/{case.id}/release")
    assert reply.status_code == 502
    assert reply.json()["error"] == "rasa_unavailable"
    assert is_handed_off(settings, "web-1")
    # Rasa is back: the same call now works.
    rasa.down = False
    assert (await api.post(f"/assist/handoffs/{case.id}/release")).status_code == 200
    assert not is_handed_off(settings, "web-1")


async def test_a_shop_reply_is_a_bot_event_marked_as_the_agents(
    api: httpx.AsyncClient, settings: Settings, rasa: FakeRasa
) -> None:
    case = handoff(settings)
    text = "  亲，我是客服小王，\n马上为您处理  "
    reply = await api.post(f"/assist/handoffs/{case.id}/reply", json={"text": text})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "handoff_id": case.id,
        "channel": "shop",
        "text": "亲，我是客服小王， 马上为您处理",
        "delivery": "shop_tracker",
    }
    assert appended(rasa) == [
        (
            "/conversations/web-1/tracker/events",
            {
                "event": "bot",
                "text": "亲，我是客服小王， 马上为您处理",
                "metadata": {"agent": True},
            },
        )
    ]


async def test_a_long_reply_is_clipped_like_any_message(
    api: httpx.AsyncClient, settings: Settings, rasa: FakeRasa
) -> None:
    case = handoff(settings)
    reply = await api.post(f"/assist/handoffs/{case.id}/reply", json={"text": "很" * 5000 + "谢谢"})
    assert reply.status_code == 200
    sent = appended(rasa)[0][1]["text"]
    assert len(sent) == MAX_MESSAGE_LENGTH and sent.endswith("谢谢")


async def test_an_im_reply_is_delivered_signed_through_the_outbox(
    api: httpx.AsyncClient, settings: Settings, rasa: FakeRasa
) -> None:
    case = handoff(settings, "im:c-42", channel="im")
    reply = await api.post(f"/assist/handoffs/{case.id}/reply", json={"text": "您好，我是客服"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["delivery"] == "im_outbox"
    assert appended(rasa) == []  # the platform gets it, not Rasa
    delivered: List[Dict[str, Any]] = []

    def platform(url: str, body: bytes, headers: Any) -> int:
        from bot.im_protocol import verify

        assert url == CALLBACK
        verify(IM_SECRET, headers, body)
        delivered.append(json.loads(body))
        return 200

    work = Queue(url=settings.db_url, owner="test")
    assert deliver_next(work, IM_SECRET, CALLBACK, platform) == "delivered"
    assert delivered == [
        {
            "conversation_id": "c-42",
            "reply_to": None,
            "messages": [
                {"recipient_id": "im:c-42", "text": "您好，我是客服", "custom": {"agent": True}}
            ],
        }
    ]


async def test_an_im_reply_without_the_im_channel_is_503(
    settings: Settings, rasa: FakeRasa, tmp_path: Path
) -> None:
    off = load_settings(
        {
            "SHOPBOT_DB_URL": settings.db_url,
            "SHOPBOT_VAR_DIR": str(tmp_path),
            "SHOPBOT_AGENT_TOKEN": TOKEN,
            "SHOPBOT_RASA_TOKEN": RASA_TOKEN,
        }
    )
    case = handoff(off, "im:c-42", channel="im")
    async with _client(off, rasa) as client:
        reply = await client.post(
            f"/assist/handoffs/{case.id}/reply",
            json={"text": "您好"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert reply.status_code == 503 and reply.json()["error"] == "im_channel_off"
    with session_scope(settings.db_url) as session:
        assert session.scalars(select(ImOutbox)).all() == []


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01"])
async def test_an_empty_reply_is_400_and_sends_nothing(
    api: httpx.AsyncClient, settings: Settings, rasa: FakeRasa, text: str
) -> None:
    case = handoff(settings)
    reply = await api.post(f"/assist/handoffs/{case.id}/reply", json={"text": text})
    assert reply.status_code == 400 and reply.json()["error"] == "empty_text"
    assert appended(rasa) == []


async def test_with_rasa_down_a_shop_reply_is_502(
    api: httpx.AsyncClient, settings: Settings, rasa: FakeRasa
) -> None:
    case = handoff(settings)
    rasa.down = True
    reply = await api.post(f"/assist/handoffs/{case.id}/reply", json={"text": "您好"})
    assert reply.status_code == 502 and reply.json()["error"] == "rasa_unavailable"


async def test_a_released_handoff_takes_no_reply(
    api: httpx.AsyncClient, settings: Settings, rasa: FakeRasa
) -> None:
    case = handoff(settings)
    await api.post(f"/assist/handoffs/{case.id}/release")
    reply = await api.post(f"/assist/handoffs/{case.id}/reply", json={"text": "您好"})
    assert reply.status_code == 409 and reply.json()["error"] == "handoff_released"
    assert [event["event"] for _, event in appended(rasa)] == ["resume"]


@pytest.mark.parametrize("path", ["999", "0", str(2**31), str(2**64), "abc", "-1"])
async def test_unknown_handoffs_are_404(
    api: httpx.AsyncClient, settings: Settings, path: str
) -> None:
    handoff(settings)
    for action, body in (("release", None), ("reply", {"text": "您好"})):
        reply = await api.post(f"/assist/handoffs/{path}/{action}", json=body)
        assert reply.status_code == 404, (action, reply.text)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"{not json", 400),
        (b'{"text": 5}', 422),
        (b"[]", 422),
        (b'{"text": "' + b"x" * 70_000 + b'"}', 413),
    ],
)
async def test_bad_reply_bodies_get_client_errors(
    api: httpx.AsyncClient, settings: Settings, raw: bytes, status: int
) -> None:
    case = handoff(settings)
    reply = await api.post(
        f"/assist/handoffs/{case.id}/reply",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == status


async def test_every_handoff_route_needs_the_agent_token(
    settings: Settings, rasa: FakeRasa
) -> None:
    case = handoff(settings)
    async with _client(settings, rasa) as client:
        for method, path in (
            ("GET", "/assist/handoffs"),
            ("POST", f"/assist/handoffs/{case.id}/release"),
            ("POST", f"/assist/handoffs/{case.id}/reply"),
        ):
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                reply = await client.request(method, path, json={"text": "x"}, headers=headers)
                assert reply.status_code == 401, (method, path)
    assert rasa.calls == []
    view = get_handoff(settings, case.id)
    assert view is not None and view.status == "open"


async def test_the_openapi_document_describes_the_handoff_routes(api: httpx.AsyncClient) -> None:
    document = (await api.get("/assist/openapi.json")).json()
    paths = document["paths"]
    assert {"get"} == set(paths["/assist/handoffs"])
    release = paths["/assist/handoffs/{handoff_id}/release"]["post"]
    assert {"200", "404", "502"} <= set(release["responses"])
    reply = paths["/assist/handoffs/{handoff_id}/reply"]["post"]
    assert {"200", "400", "404", "409", "502"} <= set(reply["responses"])
    schemas = document["components"]["schemas"]
    assert {"HandoffOut", "HandoffQueueOut", "ReplyRequest", "ReplyOut", "ReleaseOut"} <= set(
        schemas
    )
    assert schemas["ReplyRequest"]["required"] == ["text"]


def test_agent_replies_are_agent_lines_of_the_transcript() -> None:
    tracker = {
        "events": [
            {"event": "user", "text": "我要人工", "timestamp": 1795000001.0},
            {"event": "bot", "text": "正在转接", "metadata": {"utter_action": "utter_x"}},
            {"event": "pause"},
            {"event": "bot", "text": "我是客服小王", "metadata": {"agent": True}},
            {"event": "bot", "text": "假冒", "metadata": {"agent": "yes"}},
        ]
    }
    assert [(line.role, line.text) for line in transcript(tracker)] == [
        ("buyer", "我要人工"),
        ("bot", "正在转接"),
        ("agent", "我是客服小王"),
        ("bot", "假冒"),
    ]


@pytest.mark.parametrize(
    ("conversation", "path"),
    [("web-1", "web-1"), ("im:c-42", "im:c-42"), ("a b", "a%20b"), ("x?y#z", "x%3Fy%23z")],
)
def test_conversation_ids_travel_as_rasa_reads_them(conversation: str, path: str) -> None:
    # Rasa does not decode its path parameter: "im%3Ac-42" would be another conversation.
    assert conversation_path(conversation) == path
