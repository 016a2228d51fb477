"""End to end: the store IM channel through the real Rasa server, action
server and IM worker, against a fake IM platform that fails, goes away and
comes back while the worker is restarted."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional

import httpx
import pytest
from sqlalchemy import select

from bot.db.models import ImInbox
from bot.db.session import session_scope
from bot.im_protocol import SignatureError, signed_headers, verify
from bot.outbox import pending_counts
from tests.e2e.conftest import IM_SECRET, Bot


class FakePlatform:
    """A store IM platform's callback endpoint on a fixed port.

    It checks every delivery's signature, refuses the first ``reject`` ones
    with 503 and records the accepted ones in arrival order.
    """

    def __init__(self, port: int, reject: int = 0) -> None:
        self.port = port
        self.reject = reject
        self.accepted: List[Dict[str, Any]] = []
        self.refused = 0
        self.badly_signed = 0
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None

    def start(self, reject: int = 0) -> FakePlatform:
        self.reject = reject
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = platform.record(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def record(self, path: str, headers: Dict[str, str], body: bytes) -> int:
        with self._lock:
            try:
                verify(IM_SECRET, headers, body)
            except SignatureError:
                self.badly_signed += 1
                return 401
            if path != "/im/callback":
                return 404
            if self.reject > 0:
                self.reject -= 1
                self.refused += 1
                return 503
            self.accepted.append(json.loads(body))
            return 200

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def replies_to(self, conversation: str) -> List[str]:
        with self._lock:
            return [r["reply_to"] for r in self.accepted if r["conversation_id"] == conversation]


def send(bot: Bot, body: Any, raw: Optional[bytes] = None, **sign: Any) -> httpx.Response:
    content = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = signed_headers(sign.get("secret", IM_SECRET), content, now=sign.get("now"))
    return httpx.post(f"{bot.url}/webhooks/im/webhook", content=content, headers=headers)


def message(conversation: str, text: str, buyer: str = "buyer_001") -> Dict[str, str]:
    return {
        "msg_id": f"msg-{uuid.uuid4().hex[:12]}",
        "conversation_id": conversation,
        "buyer_id": buyer,
        "text": text,
    }


def wait_until(condition: Callable[[], bool], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def db_url(bot: Bot) -> str:
    return bot.stack.env["SHOPBOT_DB_URL"]


@pytest.fixture()
def platform(bot: Bot) -> Any:
    fake = FakePlatform(bot.im_platform_port)
    yield fake
    fake.stop()


def test_bad_requests_are_refused_and_nothing_is_recorded(bot: Bot) -> None:
    before = pending_counts(db_url(bot))
    body = message(f"im-e2e-{uuid.uuid4().hex[:6]}", "在吗")
    forged = send(bot, body, secret="not-the-secret")
    stale = send(bot, body, now=time.time() - 301)
    broken = send(bot, None, raw=b'{"msg_id": "x", ')
    missing = send(bot, {"msg_id": "x", "conversation_id": "c", "text": "t"})
    assert (forged.status_code, forged.json()) == (401, {"error": "signature_invalid"})
    assert (stale.status_code, stale.json()) == (401, {"error": "signature_stale"})
    assert (broken.status_code, broken.json()) == (400, {"error": "invalid_json"})
    assert (missing.status_code, missing.json()) == (400, {"error": "invalid_buyer_id"})
    unsigned = httpx.post(f"{bot.url}/webhooks/im/webhook", json=body)
    assert unsigned.status_code == 401
    with session_scope(db_url(bot)) as session:
        assert session.scalar(select(ImInbox.id).where(ImInbox.msg_id == body["msg_id"])) is None
    assert pending_counts(db_url(bot)) == before


def test_replies_arrive_exactly_once_in_order_across_outages_and_a_worker_restart(
    bot: Bot, platform: FakePlatform, demo_order: Dict[str, Any]
) -> None:
    conversations = [f"im-e2e-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    texts = ["在吗", f"我的订单{demo_order['order_id']}的衣服太大了", "能换吗", "谢谢"]
    sent: Dict[str, List[str]] = {c: [] for c in conversations}
    platform.start(reject=2)

    def say(index: int) -> None:
        for conversation in conversations:
            body = message(conversation, texts[index])
            reply = send(bot, body)
            assert (reply.status_code, reply.json()) == (200, {"status": "accepted"})
            sent[conversation].append(body["msg_id"])

    # Phase 1: the platform refuses the first two deliveries, then accepts.
    say(0)
    say(1)
    retry = send(bot, {**message(conversations[0], "在吗"), "msg_id": sent[conversations[0]][0]})
    assert (retry.status_code, retry.json()) == (200, {"status": "duplicate"})
    wait_until(lambda: all(len(platform.replies_to(c)) == 2 for c in conversations))
    assert platform.refused == 2

    # Phase 2: the platform goes away; replies pile up in the outbox.
    platform.stop()
    say(2)
    say(3)
    wait_until(lambda: pending_counts(db_url(bot)) == {"im_inbox": 0, "im_outbox": 4})

    # Phase 3: the worker restarts with undelivered replies in the outbox.
    bot.stack.stop_process("im")
    assert pending_counts(db_url(bot))["im_outbox"] == 4
    bot.stack.start_im_worker()
    platform.start(reject=1)
    wait_until(lambda: all(len(platform.replies_to(c)) == 4 for c in conversations))
    time.sleep(1.5)  # anything sent twice would arrive by now

    for conversation in conversations:
        assert platform.replies_to(conversation) == sent[conversation]
    assert platform.badly_signed == 0
    assert pending_counts(db_url(bot)) == {"im_inbox": 0, "im_outbox": 0}
    by_message = {r["reply_to"]: r for r in platform.accepted}
    answer = by_message[sent[conversations[0]][1]]
    assert answer["conversation_id"] == conversations[0]
    assert demo_order["product"] in "\n".join(m.get("text") or "" for m in answer["messages"])
    assert all(m["recipient_id"] == f"im:{conversations[0]}" for m in answer["messages"])


def test_a_long_message_is_answered_without_being_echoed(bot: Bot, platform: FakePlatform) -> None:
    platform.start()
    conversation = f"im-e2e-{uuid.uuid4().hex[:6]}"
    body = message(conversation, "凑字数" * 2000 + "衣服太大了能换吗")
    reply = send(bot, body)
    assert reply.status_code == 200 and "凑字数" not in reply.text
    wait_until(lambda: platform.replies_to(conversation) == [body["msg_id"]])
    delivered = json.dumps(platform.accepted, ensure_ascii=False)
    assert "凑字数" not in delivered
    with session_scope(db_url(bot)) as session:
        stored = session.scalars(select(ImInbox).where(ImInbox.msg_id == body["msg_id"])).one()
    assert len(stored.text) == 2000 and stored.text.endswith("衣服太大了能换吗")


def test_another_buyer_cannot_write_in_a_bound_conversation(
    bot: Bot, platform: FakePlatform
) -> None:
    platform.start()
    conversation = f"im-e2e-{uuid.uuid4().hex[:6]}"
    first = message(conversation, "在吗")
    send(bot, first)
    wait_until(lambda: platform.replies_to(conversation) == [first["msg_id"]])
    intruder = message(conversation, "在吗", buyer="buyer_002")
    assert send(bot, intruder).status_code == 200
    url = db_url(bot)

    def refused() -> bool:
        with session_scope(url) as session:
            row = session.scalars(select(ImInbox).where(ImInbox.msg_id == intruder["msg_id"]))
            return row.one().last_error == "bot_http_403"

    wait_until(refused)
    assert platform.replies_to(conversation) == [first["msg_id"]]
