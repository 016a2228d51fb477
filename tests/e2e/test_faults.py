"""End to end: the bot survives faults of its servers and services.

One stack of real processes for the module: action server, Rasa (shopbot's
patches installed), IM worker and agent assistant, with

* the order database in PostgreSQL, reached through a :class:`TcpProxy`
  (``SHOPBOT_DB_URL`` names the proxy), a database created for the module
  and dropped after;
* Rasa's SQL tracker store in PostgreSQL (another such database, configured
  with the ``SHOPBOT_TRACKER_DB_*`` variables);
* Rasa's pika event broker publishing to RabbitMQ through another proxy, to
  an exchange and a queue of the module's own (deleted after).

The faults: the action server killed mid-conversation and started again,
Rasa restarted (also while RabbitMQ is away), the order database cut off
(also in the middle of a claim's transaction) and RabbitMQ cut off. The
real PostgreSQL and RabbitMQ are never stopped: only the proxies are cut.
The tests need PostgreSQL (``SHOPBOT_TEST_PG_URL``, default this machine's)
and RabbitMQ (``SHOPBOT_TEST_RABBITMQ``, see ``tests/bot/rabbitmq_helpers.py``);
they fail without them.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, event, make_url, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from bot import services
from bot.db.migrate import upgrade
from bot.db.models import Claim, ClaimEvent
from bot.db.session import UNAVAILABLE, dispose_engines, get_engine, session_scope
from bot.devtools import (
    DEFAULT_PG_URL,
    DEMO_ORDERS,
    FakeImPlatform,
    Stack,
    TcpProxy,
    database_url,
    free_port,
    scratch_database,
)
from bot.im_protocol import signed_headers
from bot.importer import import_file
from bot.settings import load_settings
from tests.bot.rabbitmq_helpers import (
    broker_address,
    delete_exchange,
    delete_queue,
    require_broker,
    take_messages,
)
from tests.e2e.conftest import AGENT_TOKEN, IM_SECRET, ROOT, SECRET, Bot, model_path

PG_URL = os.environ.get("SHOPBOT_TEST_PG_URL") or DEFAULT_PG_URL
#: buyer_001's orders of the demo data, one per test so their claims never meet.
JEANS = "2026100300002"  # past its after-sales window: no claim can be opened
AIRCON = "2026092100003"  # 三包
SHIRT = "2026111000001"  # inside W1: a quality problem opens a claim
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
BUSY_TEXTS = {r["text"] for r in DOMAIN["responses"]["utter_busy"]}


def require_services() -> None:
    """Fail (never skip) when PostgreSQL or RabbitMQ is not there."""
    try:
        engine = create_engine(PG_URL, poolclass=NullPool)
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means: not there
        pytest.fail(f"PostgreSQL is needed at {make_url(PG_URL)!r}: {type(exc).__name__}")
    require_broker()


def conversation() -> str:
    return f"faults-{uuid.uuid4().hex[:10]}"


def texts(messages: List[Dict[str, Any]]) -> List[str]:
    return [m.get("text") or "" for m in messages]


def wait_until(condition: Callable[[], bool], timeout_s: float = 90, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.2)


def claims_of(url: str, order_id: str) -> List[Tuple[str, Optional[str]]]:
    """(claim number, status) of each event of the order's claims, read directly."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Claim.number, ClaimEvent.status)
                .join(ClaimEvent, ClaimEvent.claim_id == Claim.id, isouter=True)
                .where(Claim.order_id == order_id)
            ).all()
    finally:
        engine.dispose()
    return [(row[0], row[1]) for row in rows]


@dataclass
class Faults:
    """The running stack, its proxies and what the event queue delivered."""

    bot: Bot
    db_proxy: TcpProxy
    mq_proxy: TcpProxy
    orders_url: str
    tracker_url: str
    queue: str
    exchange: str
    platform: FakeImPlatform
    events: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def stack(self) -> Stack:
        return self.bot.stack

    def log(self, name: str) -> str:
        return (self.stack.workdir / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def published(self, sender: str) -> List[Dict[str, Any]]:
        """The events of ``sender`` that reached the queue so far."""
        self.events.extend(json.loads(body) for body in take_messages(self.queue))
        return [e for e in self.events if e.get("sender_id") == sender]

    def user_texts_published(self, sender: str) -> List[str]:
        return [e.get("text") for e in self.published(sender) if e.get("event") == "user"]

    def claims(self, order_id: str) -> List[Tuple[str, Optional[str]]]:
        return claims_of(self.orders_url, order_id)

    def tracker_rows(self, sender: str) -> int:
        engine = create_engine(self.tracker_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return int(
                    connection.execute(
                        text("select count(*) from events where sender_id = :s"), {"s": sender}
                    ).scalar_one()
                )
        finally:
            engine.dispose()

    def post_im(self, msg_id: str, conversation_id: str, message: str) -> httpx.Response:
        """Deliver a buyer's message to the IM channel as the platform does (signed)."""
        body = json.dumps(
            {
                "msg_id": msg_id,
                "conversation_id": conversation_id,
                "buyer_id": "buyer_001",
                "text": message,
            },
            ensure_ascii=False,
        ).encode("utf-8")
        return httpx.post(
            f"{self.bot.url}/webhooks/im/webhook",
            content=body,
            headers=signed_headers(IM_SECRET, body),
            timeout=30,
        )

    def send_im(self, conversation_id: str, message: str) -> str:
        """Send a buyer's message through the IM channel; return its msg_id."""
        msg_id = f"msg-{uuid.uuid4().hex[:12]}"
        reply = self.post_im(msg_id, conversation_id, message)
        assert reply.status_code == 200, reply.text
        return msg_id

    def im_reply(self, msg_id: str) -> List[str]:
        assert self.platform.wait_for(msg_id, 120) is not None, f"no IM reply to {msg_id}"
        (reply,) = [r for r in self.platform.accepted if r["reply_to"] == msg_id]
        return texts(reply["messages"])

    def im_health(self) -> int:
        return httpx.get(f"http://127.0.0.1:{self.stack.im_port}/health", timeout=10).status_code


def endpoints_extra(mq_port: int, queue: str, exchange: str) -> str:
    """Rasa's SQL tracker store (from the environment) and its pika broker (via the proxy)."""
    return f"""
tracker_store:
  type: SQL
  dialect: postgresql
  url: ${{SHOPBOT_TRACKER_DB_HOST}}
  port: ${{SHOPBOT_TRACKER_DB_PORT}}
  db: ${{SHOPBOT_TRACKER_DB_NAME}}
  username: ${{SHOPBOT_TRACKER_DB_USER}}
  password: ${{SHOPBOT_TRACKER_DB_PASSWORD}}
event_broker:
  type: pika
  url: 127.0.0.1
  port: {mq_port}
  username: guest
  password: guest
  queues:
    - {queue}
  exchange_name: {exchange}
  retry_delay_in_seconds: 1
"""


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    require_services()
    pg = make_url(PG_URL)
    tag = uuid.uuid4().hex[:10]
    queue, exchange = f"shopbot_faults_{tag}", f"shopbot_faults_{tag}"
    with (
        scratch_database(PG_URL, "shopbot_faults_orders") as orders,
        scratch_database(PG_URL, "shopbot_faults_tracker") as tracker,
        TcpProxy(pg.host or "127.0.0.1", pg.port or 5432) as db_proxy,
        TcpProxy(*broker_address()) as mq_proxy,
    ):
        proxied = database_url(PG_URL, orders, db_proxy.host, db_proxy.port)
        stack = Stack.demo(model_path(), tmp_path_factory.mktemp("faults"), SECRET, db_url=proxied)
        platform_port = free_port()
        stack.env = {
            **stack.env,
            "SHOPBOT_IM_SECRET": IM_SECRET,
            "SHOPBOT_IM_CALLBACK_URL": f"http://127.0.0.1:{platform_port}/im/callback",
            "SHOPBOT_IM_BACKOFF": "0.2/1",
            "SHOPBOT_TRACKER_DB_HOST": pg.host or "127.0.0.1",
            "SHOPBOT_TRACKER_DB_PORT": str(pg.port or 5432),
            "SHOPBOT_TRACKER_DB_NAME": tracker,
            "SHOPBOT_TRACKER_DB_USER": pg.username or "postgres",
            "SHOPBOT_TRACKER_DB_PASSWORD": pg.password or "",
        }
        stack.endpoints_extra = endpoints_extra(mq_proxy.port, queue, exchange)
        platform = FakeImPlatform(platform_port, IM_SECRET).start()
        found = Faults(
            bot=Bot(stack, f"http://127.0.0.1:{free_port()}", platform_port),
            db_proxy=db_proxy,
            mq_proxy=mq_proxy,
            orders_url=database_url(PG_URL, orders),
            tracker_url=database_url(PG_URL, tracker),
            queue=queue,
            exchange=exchange,
            platform=platform,
        )
        try:
            stack.start()
            stack.start_assist(AGENT_TOKEN)
            yield found
        finally:
            stack.stop()
            platform.stop()
            delete_queue(queue)
            delete_exchange(exchange)
            dispose_engines()


def test_a_killed_action_server_gets_utter_busy_and_the_conversation_goes_on(
    faults: Faults,
) -> None:
    bot, stack = faults.bot, faults.stack
    sender, im_conversation = conversation(), conversation()
    assert JEANS in "".join(texts(bot.say(sender, f"订单{JEANS}的裤子太大了能退吗")))

    stack.processes["actions"].kill()  # no shutdown: as if its machine died
    stack.stop_process("actions")
    try:
        busy = bot.say(sender, "运费谁出")
        msg_id = faults.send_im(im_conversation, "运费谁出")
        im_busy = faults.im_reply(msg_id)
    finally:
        stack.start_process("actions")

    assert texts(busy) and set(texts(busy)) <= BUSY_TEXTS
    assert im_busy and set(im_busy) <= BUSY_TEXTS  # through the IM worker and outbox too
    # Recorded as the bot's message of the conversation (history, agents).
    bot_events = [
        e
        for e in httpx.get(
            f"{bot.url}/conversations/{sender}/tracker",
            params={"token": stack.env["SHOPBOT_RASA_TOKEN"]},
            timeout=30,
        ).json()["events"]
        if e["event"] == "bot"
    ]
    assert [e["metadata"].get("utter_action") for e in bot_events].count("utter_busy") == 1
    log = faults.log("rasa")
    assert "custom action action_answer failed (unreachable: " in log
    assert f"for conversation {sender}: the bot answered utter_busy" in log

    # Back: the order chosen before the outage is still the conversation's.
    after = texts(bot.say(sender, "运费谁出"))
    assert not set(after) & BUSY_TEXTS and JEANS in "".join(after)


def test_a_restarted_rasa_resumes_the_conversation_from_the_tracker_store(
    faults: Faults,
) -> None:
    bot, stack = faults.bot, faults.stack
    sender = conversation()
    assert AIRCON in "".join(texts(bot.say(sender, f"订单{AIRCON}的空调不制冷了")))
    assert faults.tracker_rows(sender) > 0  # in PostgreSQL, not in Rasa's memory

    stack.stop_process("rasa")
    stack.start_process("rasa")

    after = texts(bot.say(sender, "运费谁出"))
    assert AIRCON in "".join(after) and not set(after) & BUSY_TEXTS


def test_an_unreachable_order_database_gets_utter_busy_and_leaves_no_half_claim(
    faults: Faults,
) -> None:
    bot = faults.bot
    sender = conversation()
    offer = "".join(texts(bot.say(sender, f"订单{SHIRT}的衣服质量有问题，线头很多")))
    assert SHIRT in offer

    im_message = (f"msg-{uuid.uuid4().hex[:12]}", conversation(), f"订单{JEANS}到哪了")
    faults.db_proxy.cut()
    try:
        busy = texts(bot.say(sender, "好的"))  # the confirmation of the claim
        handoffs = bot.agent("GET", "/assist/handoffs")
        im_health = faults.im_health()
        im_refused = faults.post_im(*im_message)  # the IM worker cannot store it
        claims_during = faults.claims(SHIRT)
    finally:
        faults.db_proxy.restore()

    assert busy and set(busy) <= BUSY_TEXTS
    assert claims_during == []  # nothing half-written
    assert handoffs.status_code == 503 and handoffs.json()["error"] == "database_unavailable"
    assert handoffs.headers["retry-after"] == "5"
    assert im_health == 503
    assert im_refused.status_code == 503  # so the platform delivers it again later
    actions_log = faults.log("actions")
    assert "action_confirm_claim: the order database (postgresql 127.0.0.1:" in actions_log
    assert f"for conversation {sender}: the bot answered utter_busy" in actions_log

    # Back, without any manual step: the same confirmation opens one whole claim.
    opened = "".join(texts(bot.say(sender, "好的")))
    assert f"AS{SHIRT}" in opened
    assert faults.claims(SHIRT) == [(f"AS{SHIRT}", "requested")]
    assert bot.agent("GET", "/assist/handoffs").status_code == 200
    assert faults.post_im(*im_message).status_code == 200  # the platform's retry
    im_answer = faults.im_reply(im_message[0])
    assert JEANS in "".join(im_answer) and not set(im_answer) & BUSY_TEXTS
    wait_until(lambda: faults.im_health() == 200, what="the IM worker's health")
    wait_until(
        lambda: "the database is reachable again" in faults.log("im"), what="the IM worker's log"
    )


@pytest.mark.parametrize("cut_at", ["the claim event's insert", "the commit"])
def test_a_claim_and_its_event_are_written_together_or_not_at_all(
    tmp_path: Path, cut_at: str
) -> None:
    """The connection drops inside open_claim's transaction: no claim, no event."""
    require_services()
    pg = make_url(PG_URL)
    with (
        scratch_database(PG_URL, "shopbot_faults_claims") as name,
        TcpProxy(pg.host or "127.0.0.1", pg.port or 5432) as proxy,
    ):
        direct = database_url(PG_URL, name)
        upgrade(direct)
        with session_scope(direct) as session:
            import_file(DEMO_ORDERS, session)
        url = database_url(PG_URL, name, proxy.host, proxy.port)
        settings = load_settings(
            {"SHOPBOT_DB_URL": url, "SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_TODAY": "2026-11-24"}
        )
        engine: Engine = get_engine(url)

        def cut_before_event_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO CLAIM_EVENTS"):
                proxy.cut()

        def cut_before_commit(conn: Any) -> None:
            if conn.in_transaction() and not proxy.is_cut:
                proxy.cut()

        hooks = (
            ("before_cursor_execute", cut_before_event_insert)
            if cut_at == "the claim event's insert"
            else ("commit", cut_before_commit)
        )
        event.listen(engine, *hooks)
        try:
            with pytest.raises(UNAVAILABLE):
                services.open_claim(settings, "buyer_001", SHIRT, "quality_issue", reason="线头")
        finally:
            event.remove(engine, *hooks)
            proxy.restore()
        assert claims_of(direct, SHIRT) == []

        # The engine recovers by itself (pool_pre_ping) and the claim opens whole.
        result = services.open_claim(settings, "buyer_001", SHIRT, "quality_issue", reason="线头")
        assert result.outcome == "opened"
        assert claims_of(direct, SHIRT) == [(f"AS{SHIRT}", "requested")]
        dispose_engines()


def test_the_bot_answers_while_rabbitmq_is_away_and_the_events_follow(faults: Faults) -> None:
    bot = faults.bot
    sender = conversation()
    bot.say(sender, "在吗")
    wait_until(lambda: "在吗" in faults.user_texts_published(sender), 60, "the first event")

    faults.mq_proxy.cut()
    try:
        during = [texts(bot.say(sender, f"订单{JEANS}到哪了")), texts(bot.say(sender, "谢谢"))]
    finally:
        faults.mq_proxy.restore()

    for answer in during:
        assert answer and not set(answer) & BUSY_TEXTS
    log = faults.log("rasa")
    assert (
        f"event broker: the connection to RabbitMQ at 127.0.0.1:{faults.mq_proxy.port} is lost"
        in log
    )
    # aio-pika reconnects by itself (every 5 s); the kept events go first.
    wait_until(
        lambda: {f"订单{JEANS}到哪了", "谢谢"} <= set(faults.user_texts_published(sender)),
        90,
        "the events of the outage",
    )
    assert "is back: sending" in faults.log("rasa")
    bot.say(sender, "再见")
    wait_until(lambda: "再见" in faults.user_texts_published(sender), 60, "a new event")
    published = faults.user_texts_published(sender)
    assert published.index("谢谢") < published.index("再见")


def test_rasa_starts_while_rabbitmq_is_away(faults: Faults) -> None:
    bot, stack = faults.bot, faults.stack
    sender = conversation()
    faults.mq_proxy.cut()
    try:
        stack.stop_process("rasa")
        stack.start_process("rasa")  # fails the test if Rasa does not start
        answer = texts(bot.say(sender, f"订单{JEANS}到哪了"))
    finally:
        faults.mq_proxy.restore()
    assert answer and not set(answer) & BUSY_TEXTS
    assert (
        f"event broker: RabbitMQ at 127.0.0.1:{faults.mq_proxy.port} is unreachable"
        in faults.log("rasa")
    )
    wait_until(
        lambda: f"订单{JEANS}到哪了" in faults.user_texts_published(sender),
        60,
        "the events kept since the start",
    )
