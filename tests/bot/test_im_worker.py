"""Tests of bot/im_worker.py: the hand-over endpoint and the loops, against a
fake Rasa server and a fake IM platform (local HTTP servers)."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Dict, Iterator, List, Mapping, Set, Tuple

import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.db.models import ImInbox
from bot.db.session import dispose_engines, session_scope
from bot.devtools import free_port
from bot.im_protocol import (
    MAX_BODY_BYTES,
    RATE_DROP,
    RATE_NOTICE,
    InboundMessage,
    signed_headers,
    verify,
)
from bot.im_worker import ImWorker, handler_class
from bot.messages import clip_message
from bot.outbox import pending_counts
from bot.settings import SettingsError, load_settings
from tests.bot.im_strategies import (
    BODY_ERRORS,
    bad_signatures,
    valid_messages,
    wrong_type_messages,
)
from tests.strategies import encode, fuzz, json_values

SECRET = "worker-secret"


class Recorder(BaseHTTPRequestHandler):
    """Fake Rasa (``/webhooks/im/process``) and platform (``/callback``).

    Records the questions and the accepted deliveries."""

    calls: ClassVar[List[Tuple[str, Dict[str, Any]]]] = []
    platform_failures = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        verify(SECRET, {k: v for k, v in self.headers.items()}, body)
        payload = json.loads(body)
        if self.path == "/webhooks/im/process":
            Recorder.calls.append((self.path, payload))
            answer = [{"recipient_id": "im:" + payload["conversation_id"], "text": "您好"}]
            self._send(200, json.dumps(answer).encode())
        elif Recorder.platform_failures > 0:
            Recorder.platform_failures -= 1
            self._send(503, b"{}")
        else:
            Recorder.calls.append((self.path, payload))
            self._send(200, b"{}")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(handler: type[BaseHTTPRequestHandler]) -> Tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture()
def worker(migrated_url: str) -> Iterator[Tuple[ImWorker, str]]:
    Recorder.calls = []
    Recorder.platform_failures = 0
    fake, fake_url = serve(Recorder)
    settings = load_settings(
        {
            "SHOPBOT_DB_URL": migrated_url,
            "SHOPBOT_IM_SECRET": SECRET,
            "SHOPBOT_IM_CALLBACK_URL": f"{fake_url}/callback",
            "SHOPBOT_RASA_URL": fake_url,
            "SHOPBOT_IM_BACKOFF": "0.05/0.2",
        }
    )
    im = ImWorker(settings, owner="test", poll_s=0.05)
    server, url = serve(handler_class(im))
    try:
        yield im, url
    finally:
        im.stop()
        server.shutdown()
        fake.shutdown()


def hand_over(url: str, message: InboundMessage, secret: str = SECRET) -> httpx.Response:
    body = message.to_json()
    return httpx.post(f"{url}/inbox", content=body, headers=signed_headers(secret, body))


def test_the_worker_needs_the_im_settings() -> None:
    with pytest.raises(SettingsError):
        ImWorker(load_settings({"SHOPBOT_IM_SECRET": "x"}))


def test_a_hand_over_is_stored_once(worker: Tuple[ImWorker, str], migrated_url: str) -> None:
    _, url = worker
    message = InboundMessage("m1", "c1", "buyer_001", "在吗")
    assert hand_over(url, message).json() == {"status": "accepted"}
    assert hand_over(url, message).json() == {"status": "duplicate"}
    assert pending_counts(migrated_url) == {"im_inbox": 1, "im_outbox": 0}


def test_rate_limited_hand_overs_are_stored_and_only_the_notice_reaches_the_bot(
    worker: Tuple[ImWorker, str], migrated_url: str
) -> None:
    im, url = worker
    marks = [None, RATE_NOTICE, RATE_DROP, RATE_DROP]
    for index, mark in enumerate(marks):
        sent = InboundMessage(f"m{index}", "c1", "buyer_001", "在吗", rate_limit=mark)
        assert hand_over(url, sent).json() == {"status": "accepted"}
    assert hand_over(url, InboundMessage("m3", "c1", "buyer_001", "在吗")).json() == {
        "status": "duplicate"
    }
    assert pending_counts(migrated_url) == {"im_inbox": 2, "im_outbox": 0}
    im.start_loops()
    deadline = time.monotonic() + 20
    while pending_counts(migrated_url) != {"im_inbox": 0, "im_outbox": 0}:
        assert time.monotonic() < deadline, pending_counts(migrated_url)
        time.sleep(0.05)
    asked = [(p["msg_id"], p.get("rate_limit")) for path, p in Recorder.calls if "process" in path]
    delivered = [p["reply_to"] for path, p in Recorder.calls if path == "/callback"]
    assert asked == [("m0", None), ("m1", RATE_NOTICE)]
    assert delivered == ["m0", "m1"]


def test_a_hand_over_is_stored_as_nlu_will_see_it(
    worker: Tuple[ImWorker, str], migrated_url: str
) -> None:
    _, url = worker
    texts = {"m1": "a\x00b\nc", "m2": "前言" * 2000 + "很长" * 1000}
    for msg_id, text in texts.items():
        answer = hand_over(url, InboundMessage(msg_id, "c1", "b", text)).json()
        assert answer == {"status": "accepted"}
    with session_scope(migrated_url) as session:
        stored = dict(session.execute(select(ImInbox.msg_id, ImInbox.text)).tuples().all())
    assert stored == {"m1": "ab c", "m2": "很长" * 1000}
    assert stored["m2"] == clip_message(texts["m2"])


def test_half_an_emoji_is_dropped_not_a_crash(
    worker: Tuple[ImWorker, str], migrated_url: str
) -> None:
    # A lone surrogate escape is valid JSON but no UTF-8: it used to crash the
    # handler (no answer), so the channel answered 503 and the platform retried forever.
    body = (
        b'{"msg_id": "m1", "conversation_id": "c1", "buyer_id": "b", "text": "\\ud83d\u5728\u5417"}'
    )
    answer = httpx.post(f"{worker[1]}/inbox", content=body, headers=signed_headers(SECRET, body))
    assert (answer.status_code, answer.json()) == (200, {"status": "accepted"})
    with session_scope(migrated_url) as session:
        assert session.scalars(select(ImInbox.text)).all() == ["在吗"]


def test_an_unknown_rate_limit_mark_is_refused(
    worker: Tuple[ImWorker, str], migrated_url: str
) -> None:
    _, url = worker
    body = json.dumps(
        {"msg_id": "m", "conversation_id": "c", "buyer_id": "b", "text": "t", "rate_limit": "x"}
    ).encode()
    bad = httpx.post(f"{url}/inbox", content=body, headers=signed_headers(SECRET, body))
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_rate_limit"}
    assert pending_counts(migrated_url) == {"im_inbox": 0, "im_outbox": 0}


def test_an_unsigned_or_malformed_hand_over_is_refused(
    worker: Tuple[ImWorker, str], migrated_url: str
) -> None:
    _, url = worker
    forged = hand_over(url, InboundMessage("m1", "c1", "b", "t"), secret="wrong")
    assert forged.status_code == 401 and forged.json() == {"error": "signature_invalid"}
    body = b'{"msg_id": "m2"}'
    bad = httpx.post(f"{url}/inbox", content=body, headers=signed_headers(SECRET, body))
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_conversation_id"}
    assert httpx.post(f"{url}/other", content=b"{}").status_code == 404
    assert pending_counts(migrated_url) == {"im_inbox": 0, "im_outbox": 0}


def test_health_reports_the_pending_rows(worker: Tuple[ImWorker, str]) -> None:
    _, url = worker
    hand_over(url, InboundMessage("m1", "c1", "b", "t"))
    answer = httpx.get(f"{url}/health").json()
    assert answer == {"status": "ok", "pending": {"im_inbox": 1, "im_outbox": 0}}


def test_messages_are_answered_and_delivered_in_order_despite_failures(
    worker: Tuple[ImWorker, str], migrated_url: str
) -> None:
    im, url = worker
    Recorder.platform_failures = 3
    for index in range(4):
        hand_over(url, InboundMessage(f"m{index}", "c1", "buyer_001", f"第{index}条"))
    im.start_loops()
    deadline = time.monotonic() + 20
    while pending_counts(migrated_url) != {"im_inbox": 0, "im_outbox": 0}:
        assert time.monotonic() < deadline, pending_counts(migrated_url)
        time.sleep(0.05)
    asked = [p["text"] for path, p in Recorder.calls if path == "/webhooks/im/process"]
    delivered = [p for path, p in Recorder.calls if path == "/callback"]
    assert asked == ["第0条", "第1条", "第2条", "第3条"]
    assert [p["reply_to"] for p in delivered] == ["m0", "m1", "m2", "m3"]
    assert delivered[0]["messages"] == [{"recipient_id": "im:c1", "text": "您好"}]


def test_an_unreachable_bot_and_platform_count_as_no_answer(migrated_url: str) -> None:
    settings = load_settings(
        {
            "SHOPBOT_DB_URL": migrated_url,
            "SHOPBOT_IM_SECRET": SECRET,
            "SHOPBOT_IM_CALLBACK_URL": "http://127.0.0.1:9/callback",
            "SHOPBOT_RASA_URL": "http://127.0.0.1:9",
        }
    )
    im = ImWorker(settings)
    try:
        assert im.ask_bot(InboundMessage("m", "c", "b", "t")) == (0, None)
        assert im.post("http://127.0.0.1:9/callback", b"{}", {}) == 0
    finally:
        im.stop()


def test_an_unreachable_database_is_a_503_and_one_log_line_per_loop_and_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings(
        {
            "SHOPBOT_DB_URL": f"postgresql+psycopg://im:pw-not-logged@127.0.0.1:{free_port()}/x",
            "SHOPBOT_IM_SECRET": SECRET,
            "SHOPBOT_IM_CALLBACK_URL": "http://127.0.0.1:9/callback",
            "SHOPBOT_RASA_URL": "http://127.0.0.1:9",
        }
    )
    im = ImWorker(settings, owner="test", poll_s=0.02)
    server, url = serve(handler_class(im))
    try:
        with caplog.at_level(logging.INFO, logger="bot.im_worker"):
            stored = hand_over(url, InboundMessage("m1", "c1", "b", "t"))
            health = httpx.get(f"{url}/health")
            im.start_loops()
            time.sleep(0.5)  # many failed polls of each loop
    finally:
        im.stop()
        server.shutdown()
        dispose_engines()
    assert stored.status_code == 503 and stored.json() == {"error": "database_unavailable"}
    assert health.status_code == 503 and health.json()["error"] == "database_unavailable"
    outage = [r.getMessage() for r in caplog.records if "retrying every" in r.getMessage()]
    assert len(outage) == 2  # the processing loop and the delivery loop, once each
    assert all("unavailable (OperationalError" in line for line in outage)
    assert "pw-not-logged" not in caplog.text


# -- properties of the hand-over (hypothesis, real HTTP and database) ----------


@pytest.fixture()
def inbox(worker: Tuple[ImWorker, str]) -> Iterator[httpx.Client]:
    """A client of the worker's ``/inbox`` (one connection for many requests)."""
    with httpx.Client(base_url=worker[1], timeout=10) as client:
        yield client


def post_inbox(client: httpx.Client, raw: bytes, headers: Mapping[str, str]) -> httpx.Response:
    return client.post("/inbox", content=raw, headers=dict(headers))


@fuzz(120)
@given(raw=st.binary(max_size=300) | json_values.map(encode) | wrong_type_messages.map(encode))
def test_any_signed_body_is_stored_or_refused_never_5xx(inbox: httpx.Client, raw: bytes) -> None:
    reply = post_inbox(inbox, raw, signed_headers(SECRET, raw))
    if len(raw) > MAX_BODY_BYTES:
        assert (reply.status_code, reply.json()) == (413, {"error": "body_too_large"})
    elif reply.status_code == 400:
        assert reply.json()["error"] in BODY_ERRORS | {"invalid_rate_limit"}
    else:
        assert reply.status_code == 200, reply.text
        assert reply.json()["status"] in ("accepted", "duplicate")


@fuzz(80)
@given(value=valid_messages, data=st.data())
def test_a_valid_message_is_acknowledged_exactly_once_per_msg_id(
    inbox: httpx.Client, migrated_url: str, value: Dict[str, str], data: st.DataObject
) -> None:
    raw = encode(value)
    assume(len(raw) <= MAX_BODY_BYTES)
    stored_before = stored_msg_ids(migrated_url)
    answers = [post_inbox(inbox, raw, signed_headers(SECRET, raw)) for _ in range(2)]
    statuses = [(a.status_code, a.json()) for a in answers]
    first = "duplicate" if value["msg_id"].strip() in stored_before else "accepted"
    assert statuses == [(200, {"status": first}), (200, {"status": "duplicate"})]
    headers, code = data.draw(bad_signatures(SECRET, raw, int(time.time())))
    forged = post_inbox(inbox, raw, headers)
    assert (forged.status_code, forged.json()) == (401, {"error": code})
    stored = stored_msg_ids(migrated_url)
    assert stored == stored_before | {value["msg_id"].strip()}


def stored_msg_ids(url: str) -> Set[str]:
    with session_scope(url) as session:
        return set(session.scalars(select(ImInbox.msg_id)))
