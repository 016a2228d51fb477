"""Tests of the shop channel's request handling and conversation binding."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any, List, Optional, Tuple

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from rasa.shared.core.domain import Domain

from bot.auth import Identity, mint_token
from bot.settings import PROJECT_ROOT
from shopbot_rasa.channels.identity import MAX_MESSAGE_LENGTH, BindingRegistry, clip_message
from shopbot_rasa.channels.shop import (
    MAX_BODY_BYTES,
    RATE_LIMITED_RESPONSE,
    domain_texts,
    parse_body,
)
from tests.rasa.channel_server import ANSWER, ChannelServer, FakeAgent
from tests.rasa.conftest import ORIGIN, SHOP_SECRET
from tests.rasa.shop_strategies import (
    IDENTITIES,
    Auth,
    authorizations,
    expected_body,
    origin_allowed,
    origins,
    shop_bodies,
)
from tests.strategies import broken_bodies, encode, fuzz, huge_text, texts


def body(**fields: Any) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


def test_valid_body_is_parsed() -> None:
    assert parse_body(body(sender="c1", message="在吗")) == (("c1", "在吗"), None)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "invalid_body"),
        (body(message="hi"), "invalid_sender"),
        (body(sender="", message="hi"), "invalid_sender"),
        (body(sender=5, message="hi"), "invalid_sender"),
        (body(sender="s" * 200, message="hi"), "invalid_sender"),
        (body(sender="c1", message=["hi"]), "invalid_message"),
        (b"x" * (MAX_BODY_BYTES + 1), "body_too_large"),
        # Found by the webhook properties: a 500 (RecursionError), and senders
        # a tracker store cannot hold (a 503 on PostgreSQL / on any store).
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),
        (body(sender="会话\x00", message="hi"), "invalid_sender"),
        (b'{"sender": "a\\ud800", "message": "hi"}', "invalid_sender"),
        (body(sender="a\nb", message="hi"), "invalid_sender"),
    ],
)
def test_bad_bodies_get_an_error_code(raw: bytes, code: str) -> None:
    assert parse_body(raw) == (None, code)


def test_missing_message_is_an_empty_message() -> None:
    assert parse_body(body(sender="c1")) == (("c1", ""), None)


def test_long_messages_keep_their_end() -> None:
    text = "废话" * 3000 + "衣服太大了能退吗"
    clipped = clip_message(text)
    assert len(clipped) == MAX_MESSAGE_LENGTH
    assert clipped.endswith("衣服太大了能退吗")


def test_control_characters_are_removed_and_newlines_folded() -> None:
    assert clip_message("a\x00b\x7fc\nd\te") == "abc d e"


def test_emoji_are_kept() -> None:
    assert clip_message("😀👍") == "😀👍"


class FakeTrackerStore:
    """Tracker store holding events with metadata, counting retrievals."""

    def __init__(self, events_by_sender: dict[str, List[Any]]) -> None:
        self.events_by_sender = events_by_sender
        self.retrievals = 0

    async def retrieve(self, sender_id: str) -> Optional[Any]:
        self.retrievals += 1
        if sender_id not in self.events_by_sender:
            return None
        return SimpleNamespace(events=self.events_by_sender[sender_id])


def user_event(sub: str) -> Any:
    return SimpleNamespace(type_name="user", metadata={"shopbot": {"sub": sub, "role": "buyer"}})


def test_new_conversation_is_allowed() -> None:
    store = FakeTrackerStore({})
    assert asyncio.run(BindingRegistry().allows(store, "new", Identity("b1", "buyer")))


def test_conversation_of_another_buyer_is_refused() -> None:
    store = FakeTrackerStore(
        {"c1": [SimpleNamespace(type_name="action", metadata={}), user_event("b1")]}
    )
    registry = BindingRegistry()
    assert asyncio.run(registry.allows(store, "c1", Identity("b1", "buyer")))
    assert not asyncio.run(registry.allows(store, "c1", Identity("b2", "buyer")))
    assert not asyncio.run(registry.allows(store, "c1", Identity("b1", "seller")))


def test_binding_is_cached_after_the_first_lookup() -> None:
    store = FakeTrackerStore({"c1": [user_event("b1")]})
    registry = BindingRegistry()
    for _ in range(3):
        assert asyncio.run(registry.allows(store, "c1", Identity("b1", "buyer")))
    assert store.retrievals == 1


def test_cache_is_bounded() -> None:
    registry = BindingRegistry(cache_size=2)
    for index in range(5):
        registry.bind(f"c{index}", Identity("b", "buyer"))
    store = FakeTrackerStore({})
    asyncio.run(registry.owner(store, "c0"))
    assert store.retrievals == 1  # c0 was evicted


def test_domain_texts_reads_a_response_and_tolerates_its_absence() -> None:
    domain = SimpleNamespace(responses={"utter_x": [{"text": "a"}, {"image": "i"}, {"text": "b"}]})
    assert domain_texts(domain, "utter_x") == ["a", "b"]
    assert domain_texts(domain, "utter_missing") == []
    assert domain_texts(object(), "utter_x") == []


def test_the_rate_limit_reply_is_in_the_domain() -> None:
    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    assert domain_texts(domain, RATE_LIMITED_RESPONSE)


# -- properties of the webhook on a real server (hypothesis) -----------------------


def owner(agent: FakeAgent, sender: str) -> Optional[Identity]:
    """The identity of the first message that reached the agent in ``sender``."""
    first = next((m for m in agent.received if m.sender_id == sender), None)
    return Identity.from_metadata(first.metadata) if first is not None else None


def check_webhook(
    server: ChannelServer, auth: Auth, origin: Optional[str], raw: bytes
) -> Tuple[int, Any]:
    """POST ``raw``; check the answer against the channel's promise; return it."""
    agent = server.agent
    headers = {"Content-Type": "application/json"}
    headers.update({"Authorization": auth.header} if auth.header is not None else {})
    headers.update({"Origin": origin} if origin is not None else {})
    reached = len(agent.received)
    parsed, problem = expected_body(raw)
    bound = owner(agent, parsed[0]) if parsed else None
    reply = requests.post(
        f"{server.url}/webhooks/shop/webhook", data=raw, headers=headers, timeout=30
    )
    answer = reply.json()  # always JSON, never an HTML error page
    if not origin_allowed(origin, ORIGIN):
        expected: Tuple[int, Any] = (403, {"error": "origin_forbidden"})
    elif auth.identity is None:
        expected = (401, {"error": auth.error})
    elif parsed is None:
        expected = (400, {"error": problem})
    elif bound is not None and bound != auth.identity:
        expected = (403, {"error": "conversation_forbidden"})
    else:
        expected = (200, [{"recipient_id": parsed[0], "text": ANSWER}])
    assert (reply.status_code, answer) == expected
    if reply.status_code != 200:
        assert len(agent.received) == reached  # nothing recorded
        return expected
    assert parsed is not None and auth.identity is not None
    assert len(agent.received) == reached + 1  # reached the agent exactly once
    message = agent.received[-1]
    # Clipped by the channel, trimmed by Rasa's UserMessage.
    assert (message.sender_id, message.text) == (parsed[0], clip_message(parsed[1]).strip())
    assert message.metadata == auth.identity.as_metadata()
    if origin is not None:
        assert reply.headers["Access-Control-Allow-Origin"] == origin.strip()
    return expected


@fuzz(150)
@given(
    auth=authorizations(SHOP_SECRET),
    origin=origins(ORIGIN),
    sender=st.sampled_from(["web-1", "web-2", "web-3"]),
    text=texts,
)
def test_any_token_and_origin_get_their_documented_answer(
    channel_server: ChannelServer, auth: Auth, origin: Optional[str], sender: str, text: str
) -> None:
    check_webhook(channel_server, auth, origin, encode({"sender": sender, "message": text}))


@fuzz(250)
@given(
    identity=st.sampled_from(IDENTITIES),
    raw=shop_bodies.map(encode) | broken_bodies | huge_text.map(encode),
)
def test_any_body_of_a_verified_buyer_gets_its_documented_answer_never_a_5xx(
    channel_server: ChannelServer, identity: Identity, raw: bytes
) -> None:
    token = mint_token(SHOP_SECRET, identity.subject, identity.role, ttl_seconds=600)
    check_webhook(channel_server, Auth(f"Bearer {token}", identity=identity), None, raw)
