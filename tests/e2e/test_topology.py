"""End to end: the production topology (bot/topology.py) on the real services.

Two Rasa processes and two action servers behind nginx, on this machine's
PostgreSQL (order database and Rasa's tracker store), Redis (Rasa's lock
store) and RabbitMQ (Rasa's event broker); the tests fail, never skip,
without them. One topology serves the module; its two databases and its event
queue have names of their own and are dropped afterwards.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot.auth import mint_token
from bot.devtools import DEMO_TODAY
from bot.topology import Topology, drop_database, tracker_db_url
from tests.bot.rabbitmq_helpers import delete_queue, queue_messages
from tests.e2e.conftest import model_path

SECRET = "e2e-topology-secret-not-for-production-42"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"

#: buyer_001's orders in data/demo/orders.yaml (all answered by the progress question).
ORDERS = [
    "2026111000001",
    "2026100300002",
    "2026092100003",
    "2026101800004",
    "2026111800005",
    "2026111200006",
    "2026110600007",
    "2026112000008",
    "2026112100009",
    "2026112300010",
]


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    run = uuid.uuid4().hex[:10]
    workdir = tmp_path_factory.mktemp("topology")
    orders = f"{PG}/shopbot_e2e_orders_{run}"
    queue = f"shopbot_e2e_events_{run}"
    env = {
        "SHOPBOT_DB_URL": orders,
        "SHOPBOT_TRACKER_DB_NAME": f"shopbot_e2e_tracker_{run}",
        "SHOPBOT_EVENTS_QUEUE": queue,
        "SHOPBOT_JWT_SECRET": SECRET,
        "SHOPBOT_TODAY": DEMO_TODAY,
        "SHOPBOT_RASA_TOKEN": secrets.token_urlsafe(24),
        # One buyer sends dozens of messages within a minute here.
        "SHOPBOT_RATE_LIMIT": "off",
        "SHOPBOT_VAR_DIR": str(workdir),
        # Neither the IM worker nor the assistant: these tests are about Rasa.
        "SHOPBOT_IM_SECRET": "",
        "SHOPBOT_AGENT_TOKEN": "",
    }
    running = Topology(model=model_path(), workdir=workdir, env=env)
    try:
        running.prepare(demo=True).start()
        yield running
    finally:
        running.stop()
        drop_database(orders)
        drop_database(tracker_db_url(running.environment()))
        delete_queue(queue)


def say(url: str, sender: str, message: str) -> List[Dict[str, Any]]:
    """Send one shop-channel message as buyer_001 to ``url``; return the answer."""
    token = mint_token(SECRET, "buyer_001", ttl_seconds=600)
    reply = httpx.post(
        f"{url}/webhooks/shop/webhook",
        json={"sender": sender, "message": message},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    answer: List[Dict[str, Any]] = reply.json()
    assert answer, f"no answer to {message!r}"
    return answer


def texts(messages: List[Dict[str, Any]]) -> str:
    return " ".join(str(message.get("text") or "") for message in messages)


def tracker(topology: Topology, url: str, sender: str) -> Dict[str, Any]:
    """The conversation's tracker, read through Rasa's HTTP API at ``url``."""
    reply = httpx.get(
        f"{url}/conversations/{quote(sender, safe='')}/tracker",
        params={"token": topology.environment()["SHOPBOT_RASA_TOKEN"]},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    state: Dict[str, Any] = reply.json()
    return state


def user_texts(state: Dict[str, Any]) -> List[str]:
    return [event["text"] for event in state["events"] if event["event"] == "user"]


def stored_user_events(topology: Topology, sender: str) -> int:
    """How many user events of ``sender`` the tracker store holds in PostgreSQL."""
    engine = create_engine(tracker_db_url(topology.environment()), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            count = connection.execute(
                text("SELECT count(*) FROM events WHERE sender_id = :s AND type_name = 'user'"),
                {"s": sender},
            ).scalar()
    finally:
        engine.dispose()
    return int(count or 0)


def test_a_conversation_alternating_between_the_rasa_processes_keeps_its_state(
    topology: Topology,
) -> None:
    sender = f"alternate-{uuid.uuid4().hex[:8]}"
    first, second = topology.rasa_urls
    # rasa-0: a problem without an order: which order? (buttons)
    asked = say(first, sender, "衣服有质量问题，袖子开胶了")
    assert any(message.get("buttons") for message in asked), asked
    # rasa-1: the order is chosen: the pending question is answered for it.
    answered = say(second, sender, '/provide_order_id{"order_id":"2026111000001"}')
    assert "2026111000001" in texts(answered)
    # rasa-0: the buyer confirms: the claim is opened on the order chosen on rasa-1.
    confirmed = say(first, sender, "/affirm")
    assert "AS2026111000001" in texts(confirmed)

    for url in topology.rasa_urls:  # both processes see the same tracker
        state = tracker(topology, url, sender)
        assert state["slots"]["order_id"] == "2026111000001"
        assert user_texts(state) == [
            "衣服有质量问题，袖子开胶了",
            '/provide_order_id{"order_id":"2026111000001"}',
            "/affirm",
        ]
    assert stored_user_events(topology, sender) == 3


class RedisProbe:
    """Reads keys of the lock store's Redis (a few lines of its protocol)."""

    def __init__(self, host: str, port: int, db: int) -> None:
        self._socket = socket.create_connection((host, port), timeout=10)
        self._replies = self._socket.makefile("rb")
        if db:
            self.command("SELECT", str(db))

    def command(self, *args: str) -> Optional[bytes]:
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._socket.sendall(b"".join(parts))
        line = self._replies.readline()
        if line.startswith(b"-"):
            raise RuntimeError(line.decode())
        if line.startswith(b"$"):
            size = int(line[1:])
            return None if size < 0 else self._replies.read(size + 2)[:-2]
        return line[1:].strip()

    def close(self) -> None:
        self._replies.close()
        self._socket.close()


def test_twenty_messages_sent_at_once_are_all_processed_in_order(topology: Topology) -> None:
    """Through nginx, so both Rasa processes take some; Redis's ticket lock orders them.

    Message i+1 leaves as soon as message i drew its ticket (a new ticket in
    the conversation's lock in Redis) or was answered, a few ms later: so the
    order of arrival is the order of sending although a Rasa process busy with
    a turn takes a new request only after it.
    """
    sender = f"burst-{uuid.uuid4().hex[:8]}"
    messages = [
        (f"订单{order}到哪了" if index < len(ORDERS) else f"查一下订单{order}的物流")
        for index, order in enumerate(ORDERS + ORDERS)
    ]
    order_of = dict(zip(messages, ORDERS + ORDERS, strict=True))
    env = topology.environment()
    probe = RedisProbe(
        env["SHOPBOT_REDIS_HOST"], int(env["SHOPBOT_REDIS_PORT"]), int(env["SHOPBOT_REDIS_DB"])
    )
    seen: set[str] = set()
    lock_seen = threading.Event()

    def new_ticket() -> bool:
        lock = probe.command("GET", f"lock:{sender}")
        if lock is None:
            return False
        lock_seen.set()
        # Each ticket is a JSON text of its own: its number and expiry time.
        tickets = set(json.loads(lock)["tickets"])
        fresh = tickets - seen
        seen.update(tickets)
        return bool(fresh)

    answers: List[Future[List[Dict[str, Any]]]] = []
    try:
        with ThreadPoolExecutor(max_workers=len(messages)) as pool:
            for message in messages:
                answers.append(pool.submit(say, topology.url, sender, message))
                deadline = time.monotonic() + 60
                while not (new_ticket() or answers[-1].done()):
                    assert time.monotonic() < deadline, f"{message!r} never reached Rasa"
                    time.sleep(0.002)
            replies = [answer.result(timeout=300) for answer in answers]
    finally:
        probe.close()

    assert lock_seen.is_set(), "no ticket lock in Redis: is the Redis lock store in use?"
    for message, reply in zip(messages, replies, strict=True):
        assert order_of[message] in texts(reply), (message, reply)

    state = tracker(topology, topology.url, sender)
    assert user_texts(state) == messages
    # One message at a time: the bot's messages after each user message answer it.
    answered_order = []
    for event in state["events"]:
        if event["event"] == "user":
            answered_order.append((order_of[event["text"]], []))
        elif event["event"] == "bot" and answered_order:
            answered_order[-1][1].append(event.get("text") or "")
    for order, bot_texts in answered_order:
        assert bot_texts and order in " ".join(bot_texts), (order, bot_texts)
    assert stored_user_events(topology, sender) == len(messages)


def test_an_action_server_stopped_is_not_missed_and_comes_back(topology: Topology) -> None:
    """nginx sends Rasa's action calls to the action server that still runs."""
    sender = f"actions-{uuid.uuid4().hex[:8]}"
    topology.stop_process("actions-0")
    try:
        for order in ORDERS[:4]:
            assert order in texts(say(topology.url, sender, f"订单{order}到哪了"))
    finally:
        topology.start_process("actions-0")
    assert topology.processes["actions-0"].poll() is None
    health = httpx.get(f"{topology.action_urls[0]}/health", timeout=10)
    assert health.status_code == 200


def test_every_process_of_the_topology_runs_and_reports_its_memory(topology: Topology) -> None:
    assert topology.names == ["actions-0", "actions-1", "rasa-0", "rasa-1", "nginx"]
    memory = topology.rss_kib()
    assert sorted(memory) == sorted(topology.names)
    assert all(kib > 0 for kib in memory.values()), memory
    print("\nresident memory (KiB):", memory)
    print("start-up (s):", {name: round(s, 1) for name, s in topology.startup_seconds.items()})
    # nginx wrote its files in its own folder, nothing elsewhere.
    assert (topology.nginx_dir / "nginx.pid").read_text().strip() == str(
        topology.processes["nginx"].pid
    )


def test_conversation_events_reach_the_rabbitmq_queue(topology: Topology) -> None:
    say(topology.url, f"events-{uuid.uuid4().hex[:8]}", "你好")
    queue = topology.environment()["SHOPBOT_EVENTS_QUEUE"]
    deadline = time.monotonic() + 30
    while queue_messages(queue) == 0:
        assert time.monotonic() < deadline, f"no event reached the queue {queue}"
        time.sleep(1)
