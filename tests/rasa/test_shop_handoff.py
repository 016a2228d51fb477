"""Tests of the shop channel during a human handoff (shopbot_rasa/channels/shop.py,
shopbot_rasa/channels/history.py): the waiting answer and the history route.

The route handlers run in process on real Rasa trackers and events; the
request is a stand-in with the few attributes the handlers read.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote_from_bytes

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.auth import Identity, mint_token
from bot.settings import PROJECT_ROOT, load_settings
from shopbot_rasa.channels.history import (
    MAX_HISTORY_MESSAGES,
    bot_message,
    history_answer,
    parse_after,
)
from shopbot_rasa.channels.shop import (
    HANDOFF_WAITING_RESPONSE,
    ShopInput,
    check_sender,
    waiting_messages,
)
from tests.rasa.channel_server import ANSWER, ChannelServer
from tests.rasa.conftest import ORIGIN as CHANNEL_ORIGIN
from tests.rasa.conftest import SHOP_SECRET
from tests.rasa.shop_strategies import (
    Auth,
    authorizations,
    expected_sender,
    origin_allowed,
    origins,
    senders,
)
from tests.strategies import any_text, fuzz

SECRET = "shop-handoff-secret-for-tests-0123456789"
ORIGIN = "https://shop.example"
WAITING = "亲，已为您转接人工客服，请稍候~"
DOMAIN = SimpleNamespace(responses={HANDOFF_WAITING_RESPONSE: [{"text": WAITING}]})
T0 = 1_795_000_000.0


def user(text: str, at: float, subject: str = "buyer_001") -> UserUttered:
    return UserUttered(
        text,
        intent={"name": "request_human", "confidence": 0.9},
        metadata=Identity(subject, "buyer").as_metadata(),
        timestamp=at,
    )


def bot(text: str, at: float, agent: bool = False, **data: Any) -> BotUttered:
    return BotUttered(text, data=data, metadata={"agent": True} if agent else {}, timestamp=at)


def handed_off(sender: str = "web-1") -> DialogueStateTracker:
    """A conversation the bot handed off: its handoff answer, then the pause."""
    return DialogueStateTracker.from_events(
        sender,
        [
            ActionExecuted("action_listen", timestamp=T0),
            user("我要人工", T0 + 1),
            bot("好的，正在为您转接人工客服", T0 + 2, custom={"handoff": True}),
            ConversationPaused(timestamp=T0 + 3),
        ],
    )


class Store:
    """An in-memory tracker store."""

    def __init__(self, *trackers: DialogueStateTracker) -> None:
        self.trackers = {t.sender_id: t for t in trackers}

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        return self.trackers.get(sender_id)


class Args(dict):  # type: ignore[type-arg]
    """Sanic's request.args: ``get`` returns the first value."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        values = super().get(key)
        return values[0] if values else default


def request(
    store: Store,
    token: Optional[str] = None,
    args: Optional[Dict[str, str]] = None,
    body: Optional[Dict[str, Any]] = None,
    origin: Optional[str] = None,
    domain: Any = DOMAIN,
) -> Any:
    headers: Dict[str, str] = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if origin is not None:
        headers["Origin"] = origin
    agent = SimpleNamespace(tracker_store=store, domain=domain)
    return SimpleNamespace(
        headers=headers,
        args=Args({k: [v] for k, v in (args or {}).items()}),
        body=json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else b"",
        method="POST" if body is not None else "GET",
        app=SimpleNamespace(ctx=SimpleNamespace(agent=agent)),
    )


def token(subject: str = "buyer_001") -> str:
    return mint_token(SECRET, subject, ttl_seconds=600)


class Channel:
    """The shop channel's route handlers; records what reached Rasa."""

    def __init__(self, rate_limit: str = "off") -> None:
        settings = load_settings({"SHOPBOT_CORS_ORIGINS": ORIGIN, "SHOPBOT_RATE_LIMIT": rate_limit})
        self.input = ShopInput(secret=SECRET, settings=settings)
        self.received: List[UserMessage] = []
        self.answer: List[Dict[str, Any]] = []

        async def on_new_message(message: UserMessage) -> None:
            self.received.append(message)
            for item in self.answer:
                await message.output_channel.send_response(message.sender_id, item)

        blueprint = self.input.blueprint(on_new_message)
        self.routes: Dict[tuple[str, str], Callable[[Any], Awaitable[Any]]] = {
            (route.uri, method): route.handler
            for route in blueprint._future_routes
            for method in route.methods
        }

    def call(self, uri: str, method: str, req: Any) -> tuple[int, Any]:
        reply = asyncio.run(self.routes[(uri, method)](req))
        return reply.status, json.loads(reply.body)


@pytest.fixture()
def channel() -> Channel:
    return Channel()


def test_a_message_in_a_paused_conversation_gets_the_waiting_answer(channel: Channel) -> None:
    store = Store(handed_off())
    status, answer = channel.call(
        "/webhook", "POST", request(store, token(), body={"sender": "web-1", "message": "在吗"})
    )
    assert status == 200
    assert answer == [
        {"recipient_id": "web-1", "text": WAITING, "custom": {"handoff": True, "waiting": True}}
    ]
    assert [m.text for m in channel.received] == ["在吗"]  # still logged by Rasa


def test_without_the_domain_response_the_waiting_answer_has_no_text(channel: Channel) -> None:
    store = Store(handed_off())
    req = request(store, token(), body={"sender": "web-1", "message": "在吗"}, domain=object())
    status, answer = channel.call("/webhook", "POST", req)
    assert status == 200
    assert answer == [{"recipient_id": "web-1", "custom": {"handoff": True, "waiting": True}}]


def test_a_running_conversation_gets_the_bots_answer_and_no_waiting_text(
    channel: Channel,
) -> None:
    resumed = handed_off()
    resumed.update(ConversationResumed(timestamp=T0 + 10))
    store = Store(resumed)
    channel.answer = [{"text": "亲，在的"}]
    _, answer = channel.call(
        "/webhook", "POST", request(store, token(), body={"sender": "web-1", "message": "在吗"})
    )
    assert answer == [{"recipient_id": "web-1", "text": "亲，在的"}]
    # Nothing to say and not paused: nothing, as before.
    channel.answer = []
    _, answer = channel.call(
        "/webhook", "POST", request(store, token(), body={"sender": "web-1", "message": "嗯"})
    )
    assert answer == []


def test_history_returns_the_bot_messages_after_the_cursor(channel: Channel) -> None:
    tracker = handed_off()
    tracker.update(bot("亲，我是客服小王", T0 + 20, agent=True))
    tracker.update(bot("请问是哪一笔订单？", T0 + 30, agent=True))
    store = Store(tracker)
    status, answer = channel.call(
        "/history", "GET", request(store, token(), args={"sender": "web-1"})
    )
    assert status == 200
    assert answer["paused"] is True
    assert [(m["text"], m["agent"]) for m in answer["messages"]] == [
        ("好的，正在为您转接人工客服", False),
        ("亲，我是客服小王", True),
        ("请问是哪一笔订单？", True),
    ]
    assert answer["messages"][0]["custom"] == {"handoff": True}
    assert answer["cursor"] == T0 + 30
    _, later = channel.call(
        "/history", "GET", request(store, token(), args={"sender": "web-1", "after": str(T0 + 20)})
    )
    assert [m["text"] for m in later["messages"]] == ["请问是哪一笔订单？"]
    assert later["messages"][0]["timestamp"] == T0 + 30
    _, nothing = channel.call(
        "/history", "GET", request(store, token(), args={"sender": "web-1", "after": str(T0 + 30)})
    )
    assert nothing == {"messages": [], "cursor": T0 + 30, "paused": True}


def test_history_tells_when_the_conversation_was_released(channel: Channel) -> None:
    tracker = handed_off()
    tracker.update(ConversationResumed(timestamp=T0 + 40))
    _, answer = channel.call(
        "/history", "GET", request(Store(tracker), token(), args={"sender": "web-1"})
    )
    assert answer["paused"] is False


def test_history_of_another_buyers_conversation_is_403(channel: Channel) -> None:
    store = Store(handed_off())
    status, answer = channel.call(
        "/history", "GET", request(store, token("buyer_002"), args={"sender": "web-1"})
    )
    assert (status, answer) == (403, {"error": "conversation_forbidden"})
    seller = mint_token(SECRET, "buyer_001", role="seller", ttl_seconds=600)
    status, _ = channel.call("/history", "GET", request(store, seller, args={"sender": "web-1"}))
    assert status == 403


def test_history_of_an_unknown_conversation_is_empty(channel: Channel) -> None:
    status, answer = channel.call(
        "/history", "GET", request(Store(), token(), args={"sender": "web-new"})
    )
    assert (status, answer) == (200, {"messages": [], "cursor": None, "paused": False})


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "token_missing"),
        ({"token": "not-a-jwt"}, 401, "token_invalid"),
        (
            {"token": mint_token("other-secret-of-sufficient-length-000", "buyer_001")},
            401,
            "token_invalid",
        ),
        (
            {"token": mint_token(SECRET, "buyer_001", ttl_seconds=60, now=time.time() - 3600)},
            401,
            "token_expired",
        ),
        ({"origin": "https://evil.example"}, 403, "origin_forbidden"),
    ],
)
def test_history_checks_the_token_and_origin_like_the_webhook(
    channel: Channel, headers: Dict[str, str], status: int, code: str
) -> None:
    req = request(
        Store(handed_off()),
        headers.get("token", token() if "origin" in headers else None),
        args={"sender": "web-1"},
        origin=headers.get("origin"),
    )
    assert channel.call("/history", "GET", req) == (status, {"error": code})


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({}, "invalid_sender"),
        ({"sender": "  "}, "invalid_sender"),
        ({"sender": "im:c-1"}, "invalid_sender"),
        ({"sender": "s" * 200}, "invalid_sender"),
        ({"sender": "web-1", "after": "yesterday"}, "invalid_after"),
        ({"sender": "web-1", "after": "nan"}, "invalid_after"),
        ({"sender": "web-1", "after": "-1"}, "invalid_after"),
        ({"sender": "web-1", "after": "1e300"}, "invalid_after"),
    ],
)
def test_bad_history_parameters_are_400(channel: Channel, args: Dict[str, str], code: str) -> None:
    status, answer = channel.call(
        "/history", "GET", request(Store(handed_off()), token(), args=args)
    )
    assert (status, answer) == (400, {"error": code})


def test_a_browser_may_ask_for_the_history_from_the_shop_origin() -> None:
    channel = Channel()
    assert ("/history", "OPTIONS") in channel.routes
    assert ("/history", "GET") in channel.routes


def test_history_is_bounded_and_the_cursor_pages_on() -> None:
    events = [bot(f"m{n}", T0 + n) for n in range(MAX_HISTORY_MESSAGES + 5)]
    first = history_answer(events, "web-1", None, paused=True)
    assert len(first["messages"]) == MAX_HISTORY_MESSAGES
    rest = history_answer(events, "web-1", first["cursor"], paused=True)
    assert [m["text"] for m in rest["messages"]] == [f"m{n}" for n in range(100, 105)]


def test_bot_message_keeps_the_non_empty_data() -> None:
    event = bot("选一个", T0, buttons=[{"title": "a", "payload": "/a"}], image=None)
    assert bot_message(event, "web-1") == {
        "recipient_id": "web-1",
        "text": "选一个",
        "buttons": [{"title": "a", "payload": "/a"}],
    }


def test_parse_after() -> None:
    assert parse_after(None) == (None, True)
    assert parse_after("") == (None, True)
    assert parse_after("1795000000.25") == (1795000000.25, True)
    assert parse_after("inf") == (None, False)


def test_check_sender() -> None:
    assert check_sender(" web-1 ") == "web-1"
    assert check_sender(5) is None
    assert check_sender("im:x") is None


def test_waiting_messages_use_the_first_text() -> None:
    domain = SimpleNamespace(responses={HANDOFF_WAITING_RESPONSE: [{"text": "a"}, {"text": "b"}]})
    assert waiting_messages(domain, "w")[0]["text"] == "a"


def test_the_waiting_response_name_matches_the_domain_once_it_is_there() -> None:
    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    if HANDOFF_WAITING_RESPONSE not in domain.responses:
        pytest.skip("domain.yml has no utter_handoff_waiting yet (the dialogue issue adds it)")
    assert waiting_messages(domain, "w")[0]["text"]


def test_history_requests_have_a_rate_limit_of_their_own() -> None:
    limited = Channel(rate_limit="1/60")
    store = Store(handed_off())
    statuses = [
        limited.call("/history", "GET", request(store, token(), args={"sender": "web-1"}))[0]
        for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]  # 4 polls per allowed message
    other = request(store, token("buyer_002"), args={"sender": "web-1"})
    assert limited.call("/history", "GET", other)[0] == 403  # its own budget; still not its own


# -- property of the history route on a real server (hypothesis) --------------------

#: Values of ``after``: numbers written every way, and anything.
afters = st.one_of(
    st.floats().map(repr),
    st.floats(0, 2e9).map(str),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["", "nan", "inf", "-1", "1e11", "1e12", "１２", "1_000", " 12 ", "9" * 400]),
    any_text,
)


def query_value(value: str) -> Tuple[str, str]:
    """Return ``value`` percent-encoded for a URL, and as the server decodes it."""
    raw = value.encode("utf-8", "surrogatepass")
    return quote_from_bytes(raw, safe=""), raw.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def conversations(channel_server: ChannelServer) -> Dict[str, Identity]:
    """Conversations with a few messages each, bound to their identities."""
    owners = {
        "web-1": Identity("buyer_001", "buyer"),
        "web-2": Identity("buyer_002", "buyer"),
        "web-3": Identity("shop_01", "seller"),
    }
    for sender, who in owners.items():
        auth = {"Authorization": f"Bearer {mint_token(SHOP_SECRET, who.subject, who.role)}"}
        for text in ("在吗", "衣服大了", "能退吗"):
            reply = requests.post(
                f"{channel_server.url}/webhooks/shop/webhook",
                json={"sender": sender, "message": text},
                headers=auth,
                timeout=30,
            )
            assert reply.status_code == 200
    return owners


@fuzz(200)
@given(
    auth=authorizations(SHOP_SECRET),
    origin=origins(CHANNEL_ORIGIN),
    sender=st.none() | st.sampled_from(["web-1", "web-2", "web-3", " web-1"]) | senders,
    after=st.none() | afters,
)
def test_any_history_request_gets_its_documented_answer_never_a_5xx(
    channel_server: ChannelServer,
    conversations: Dict[str, Identity],
    auth: Auth,
    origin: Optional[str],
    sender: Optional[str],
    after: Optional[str],
) -> None:
    headers = {"Authorization": auth.header} if auth.header is not None else {}
    headers.update({"Origin": origin} if origin is not None else {})
    query, seen = [], {}
    for name, value in (("sender", sender), ("after", after)):
        if value is not None:
            encoded, seen[name] = query_value(value)
            query.append(f"{name}={encoded}")
    reply = requests.get(
        f"{channel_server.url}/webhooks/shop/history?{'&'.join(query)}",
        headers=headers,
        timeout=30,
    )
    answer = reply.json()  # always JSON
    conversation = expected_sender(seen.get("sender"))
    cursor, valid_after = parse_expected_after(seen.get("after") or None)
    if not origin_allowed(origin, CHANNEL_ORIGIN):
        assert (reply.status_code, answer) == (403, {"error": "origin_forbidden"})
    elif auth.identity is None:
        assert (reply.status_code, answer) == (401, {"error": auth.error})
    elif conversation is None:
        assert (reply.status_code, answer) == (400, {"error": "invalid_sender"})
    elif not valid_after:
        assert (reply.status_code, answer) == (400, {"error": "invalid_after"})
    elif conversation not in conversations:
        expected = {"messages": [], "cursor": cursor, "paused": False}
        assert (reply.status_code, answer) == (200, expected)
    elif conversations[conversation] != auth.identity:
        assert (reply.status_code, answer) == (403, {"error": "conversation_forbidden"})
    else:
        assert reply.status_code == 200 and answer["paused"] is False
        messages = answer["messages"]
        assert messages and all(m["text"] == ANSWER for m in messages)
        assert all(m["recipient_id"] == conversation and m["agent"] is False for m in messages)
        assert cursor is None or all(m["timestamp"] > cursor for m in messages)
        assert answer["cursor"] == messages[-1]["timestamp"]


def parse_expected_after(raw: Optional[str]) -> Tuple[Optional[float], bool]:
    """``after`` as the route promises to read it: a finite number from 0 to 1e11."""
    if raw is None:
        return None, True
    try:
        value = float(raw)
    except ValueError:
        return None, False
    return (value, True) if math.isfinite(value) and 0 <= value <= 1e11 else (None, False)
