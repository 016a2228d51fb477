"""Tests of bot/chat.py: the terminal chat against a fake shop channel."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Iterator, List

import pytest

from bot.auth import verify_token
from bot.chat import run_chat
from bot.settings import load_settings


class FakeChannel(BaseHTTPRequestHandler):
    received: ClassVar[List[Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeChannel.received.append((self.path, self.headers["Authorization"], body))
        reply = [
            {
                "recipient_id": body["sender"],
                "text": "请选择订单",
                "buttons": [{"title": "T恤", "payload": '/provide_order_id{"order_id": "1"}'}],
            }
        ]
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def channel() -> Iterator[str]:
    FakeChannel.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChannel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_chat_sends_lines_and_presses_buttons_by_number(channel: str, tmp_path: Path) -> None:
    settings = load_settings({"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_JWT_SECRET": "k" * 32})
    out = io.StringIO()
    assert run_chat(settings, channel, "buyer_001", stdin=io.StringIO("在吗\n1\n"), stdout=out) == 0
    (path, auth, first), (_, _, second) = FakeChannel.received
    assert path == "/webhooks/shop/webhook"
    assert verify_token("k" * 32, auth.split(" ", 1)[1]).subject == "buyer_001"
    assert first["message"] == "在吗"
    assert second["message"] == '/provide_order_id{"order_id": "1"}'
    assert first["sender"] == second["sender"]
    assert "bot> 请选择订单" in out.getvalue() and "[1] T恤" in out.getvalue()


def test_chat_survives_an_unreachable_bot(tmp_path: Path) -> None:
    settings = load_settings({"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_JWT_SECRET": "k" * 32})
    out = io.StringIO()
    code = run_chat(settings, "http://127.0.0.1:9", "b", stdin=io.StringIO("hi\n"), stdout=out)
    assert code == 0
    assert "did not answer" in out.getvalue()
