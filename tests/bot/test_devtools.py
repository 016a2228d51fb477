"""Tests of bot/devtools.py helpers used by the benchmarks and end-to-end tests."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import httpx
import pytest

from bot.auth import verify_token
from bot.devtools import (
    FakeImPlatform,
    ScriptedConversation,
    ServerProcesses,
    Stack,
    TcpProxy,
    children,
    cpu_seconds,
    database_url,
    delete_rabbitmq_queue,
    drive_conversations,
    free_port,
    group_rss_kib,
    latency_summary,
    percentile,
    process_memory,
    rss_kib,
)
from bot.im_protocol import reply_body, signed_headers
from bot.settings import RabbitMqSettings

SECRET = "devtools-im-secret"


def test_latency_summary_rounds_the_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert latency_summary(values) == {"median_ms": 50.5, "p95_ms": 95.0, "p99_ms": 99.0}
    assert percentile([3.0], 0.99) == 3.0


@pytest.fixture()
def platform() -> Iterator[FakeImPlatform]:
    fake = FakeImPlatform(free_port(), SECRET).start(reject=1)
    yield fake
    fake.stop()


def deliver(platform: FakeImPlatform, reply_to: str, secret: str = SECRET) -> int:
    body = reply_body("c1", reply_to, [{"text": "您好"}])
    return httpx.post(platform.url, content=body, headers=signed_headers(secret, body)).status_code


def test_the_fake_platform_checks_refuses_then_records_deliveries(
    platform: FakeImPlatform,
) -> None:
    assert deliver(platform, "m1", secret="wrong") == 401
    assert deliver(platform, "m1") == 503  # the first one is refused
    assert platform.wait_for("m1", 0.01) is None
    assert deliver(platform, "m1") == 200
    assert deliver(platform, "m2") == 200
    assert platform.wait_for("m1", 1) is not None
    assert platform.replies_to("c1") == ["m1", "m2"]
    assert (platform.refused, platform.badly_signed) == (1, 1)
    platform.stop()
    with pytest.raises(httpx.ConnectError):
        deliver(platform, "m3")


@pytest.fixture()
def im_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack that runs only the IM worker (on SQLite in the test's folder)."""
    env = {
        "SHOPBOT_DB_URL": f"sqlite:///{tmp_path / 'im.sqlite3'}",
        "SHOPBOT_IM_SECRET": SECRET,
        "SHOPBOT_IM_CALLBACK_URL": f"http://127.0.0.1:{free_port()}/im/callback",
    }
    stack = Stack(model=tmp_path / "unused.tar.gz", workdir=tmp_path, env=env)
    yield stack
    stack.stop()


def test_a_server_starts_again_on_the_same_port_and_keeps_its_log(im_stack: Stack) -> None:
    im_stack.start_process("im")
    first = im_stack.processes["im"]
    with pytest.raises(RuntimeError, match="running already"):
        im_stack.start_process("im")
    health = f"http://127.0.0.1:{im_stack.im_port}/health"
    assert httpx.get(health, timeout=10).status_code == 200
    ready = im_stack.ready_at["im"]

    im_stack.stop_process("im")
    assert first.poll() is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(health, timeout=10)
    im_stack.start_process("im")

    assert im_stack.processes["im"].pid != first.pid
    assert httpx.get(health, timeout=10).status_code == 200
    assert im_stack.ready_at["im"] > ready
    log = (im_stack.workdir / "im.log").read_text()
    assert log.count("listening on") == 2


def test_only_the_stacks_servers_can_be_started(im_stack: Stack) -> None:
    with pytest.raises(KeyError, match="nginx"):
        im_stack.start_process("nginx")
    assert im_stack.processes == {}


class SlowServer:
    """A stand-in for a server process that takes a while to shut down."""

    def __init__(self) -> None:
        self.terminated = 0
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        return self.returncode

    def terminate(self) -> None:
        self.terminated += 1

    def wait(self, timeout: Optional[float] = None) -> int:
        self.returncode = 0
        return 0


def test_stopping_sends_each_server_one_sigterm(tmp_path: Path) -> None:
    """A second SIGTERM interrupts Sanic's shutdown, which then kills its process group."""
    stack = Stack(model=Path("unused"), workdir=tmp_path)
    servers = [SlowServer(), SlowServer()]
    stack.processes = {"actions": servers[0], "rasa": servers[1]}  # type: ignore[dict-item]
    stack.stop()
    assert [server.terminated for server in servers] == [1, 1]
    assert stack.processes == {}


def test_servers_run_in_a_process_group_of_their_own(tmp_path: Path) -> None:
    """So a server that kills its group never kills the benchmark or test run."""
    stack = Stack(model=Path("unused"), workdir=tmp_path)
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    stack._spawn("http", command, f"http://127.0.0.1:{port}/", 20)
    try:
        process = stack.processes["http"]
        assert os.getpgid(process.pid) == process.pid != os.getpgid(0)
    finally:
        stack.stop()


class FakeShopChannel:
    """A ``shop`` webhook that answers every message, except the ones it is told to fail."""

    def __init__(self, secret: str, fail: str = "") -> None:
        self.secret = secret
        self.fail = fail
        self.received: list[tuple[str, str, str]] = []  # (sender, subject, message)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        channel = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                token = self.headers["Authorization"].removeprefix("Bearer ")
                who = verify_token(channel.secret, token)
                with channel._lock:
                    channel.received.append((body["sender"], who.subject, body["message"]))
                if body["message"] == channel.fail:
                    status, answer = 500, b'{"error": "boom"}'
                else:
                    status, answer = 200, json.dumps([{"text": "ok"}]).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


LOAD_SECRET = "devtools-load-secret-0123456789abcdef"
SCRIPT = (
    ScriptedConversation("a", "buyer_a", ("一", "二", "三")),
    ScriptedConversation("b", "buyer_b", ("甲", "乙")),
)


def test_the_load_generator_drives_whole_conversations_in_order() -> None:
    channel = FakeShopChannel(LOAD_SECRET, fail="乙")
    try:
        result = asyncio.run(drive_conversations(channel.url, LOAD_SECRET, SCRIPT, 3, 0.3, "t"))
    finally:
        channel.stop()
    by_sender: dict[str, list[tuple[str, str]]] = {}
    for sender, subject, message in channel.received:
        by_sender.setdefault(sender, []).append((subject, message))
    assert len(by_sender) == result.conversations >= 3
    for sender, turns in by_sender.items():
        # Worker i starts with conversation i of the script, then takes every third one.
        worker, number = (int(part) for part in sender.split("-")[1:])
        expected = SCRIPT[(worker + 3 * number) % 2]
        said = [message for _, message in turns]
        assert said == list(expected.messages[: len(said)])
        assert {subject for subject, _ in turns} == {expected.subject}
    answered = sum(message != "乙" for _, _, message in channel.received)
    assert len(result.latencies_ms) == answered > 0
    assert result.errors == len(channel.received) - answered > 0
    assert "500" in result.first_errors[0]
    first = sum(message in ("一", "甲") for _, _, message in channel.received)
    assert result.positions.count(0) == first  # "甲" is answered, "乙" is not
    figures = result.summary()
    assert figures["turns"] == answered and figures["concurrency"] == 3
    assert "median_first_ms" in figures and "median_later_ms" in figures
    assert figures["messages_per_s"] == round(answered / result.seconds, 1)


def test_the_load_generator_can_run_each_conversation_exactly_once() -> None:
    channel = FakeShopChannel(LOAD_SECRET)
    try:
        result = asyncio.run(
            drive_conversations(channel.url, LOAD_SECRET, SCRIPT, 2, 0, "once", each=1)
        )
    finally:
        channel.stop()
    said = sorted((sender, message) for sender, _, message in channel.received)
    assert said == sorted(
        [("once-0-0", m) for m in SCRIPT[0].messages]
        + [("once-1-0", m) for m in SCRIPT[1].messages]
    )
    assert (result.conversations, len(result.latencies_ms), result.errors) == (2, 5, 0)


def test_process_memory_lists_a_process_and_its_children() -> None:
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(100):
            if children(parent.pid):
                break
            time.sleep(0.05)
        (child,) = children(parent.pid)
        memory = process_memory({"server": parent.pid, "gone": 2**22 + 1})
        assert set(memory) == {"server", f"server/child-{child}"}
        assert memory["server"]["pid"] == parent.pid
        assert 0 < memory["server"]["rss_mib"] <= memory["server"]["peak_rss_mib"]
        parts = memory["server"]["anon_mib"] + memory["server"]["file_mib"]
        assert 0 < memory["server"]["anon_mib"] and abs(parts - memory["server"]["rss_mib"]) < 1
        used = cpu_seconds({"server": parent.pid, "me": os.getpid()})
        assert 0 <= used["server"] < used["me"]
    finally:
        for pid in children(parent.pid):
            os.kill(pid, 9)
        parent.kill()
        parent.wait()


@dataclass
class Runner(ServerProcesses):
    """A process runner over fixed commands: name -> (command, health URL)."""

    workdir: Path
    commands: Dict[str, Tuple[List[str], Optional[str]]]
    processes: Dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    startup_seconds: Dict[str, float] = field(default_factory=dict)
    ready_at: Dict[str, float] = field(default_factory=dict)

    def _server(self, name: str) -> Tuple[List[str], Optional[str], float]:
        command, health = self.commands[name]
        return command, health, 20


def http_server(port: int) -> Tuple[List[str], str]:
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return command, f"http://127.0.0.1:{port}/"


def test_several_servers_start_at_once_and_each_is_awaited(tmp_path: Path) -> None:
    ports = [free_port(), free_port(), free_port()]
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    late_command, late_health = http_server(ports[2])
    late = (["sh", "-c", 'sleep 2; exec "$0" "$@"', *late_command], late_health)
    runner = Runner(
        tmp_path,
        {
            "late": late,
            "a": http_server(ports[0]),
            "b": http_server(ports[1]),
            "quiet": (sleeper, None),
        },
    )
    try:
        runner.start_processes(["late", "a", "b", "quiet"])
        for port in ports:
            assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
        assert set(runner.startup_seconds) == set(runner.ready_at) == {"late", "a", "b", "quiet"}
        # Each server's start-up is its own: the quick ones were not awaited after the late one.
        assert runner.ready_at["a"] < runner.ready_at["late"]
        assert runner.startup_seconds["b"] < runner.startup_seconds["late"]
        # A server without a health URL counts as started once it ran for a second.
        assert runner.startup_seconds["quiet"] >= 1.0
        assert runner.processes["quiet"].poll() is None
        with pytest.raises(RuntimeError, match="a is running already"):
            runner.start_processes(["a"])
    finally:
        runner.stop()
    assert runner.processes == {}


def test_a_server_that_exits_at_once_fails_the_start_and_stops_the_others(
    tmp_path: Path,
) -> None:
    port = free_port()
    crash = [sys.executable, "-c", "print('bad config'); raise SystemExit(3)"]
    runner = Runner(tmp_path, {"ok": http_server(port), "crash": (crash, None)})
    with pytest.raises(RuntimeError, match="crash did not start:\\nbad config"):
        runner.start_processes(["ok", "crash"])
    assert runner.processes == {}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=10)


def test_a_servers_memory_counts_its_workers(tmp_path: Path) -> None:
    """The action server and nginx serve from worker processes of their own group."""
    worker = "import sys, time; block = b'x' * 60_000_000; sys.stdout.write('up'); time.sleep(60)"
    manager = (
        "import subprocess, sys, time;"
        f"subprocess.Popen([sys.executable, '-c', {worker!r}]); time.sleep(60)"
    )
    runner = Runner(tmp_path, {"manager": ([sys.executable, "-c", manager], None)})
    try:
        runner.start_process("manager")
        pid = runner.processes["manager"].pid
        log = tmp_path / "manager.log"
        for _ in range(100):
            if "up" in log.read_text():
                break
            time.sleep(0.1)
        alone = rss_kib(pid)
        assert group_rss_kib(pid) > alone + 50_000
        assert runner.rss_kib()["manager"] > alone + 50_000
    finally:
        runner.stop()


class Echo(socketserver.BaseRequestHandler):
    """Sends back every chunk it receives."""

    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture()
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def echo(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    return sock.recv(4096)


def test_the_tcp_proxy_forwards_drops_refuses_and_comes_back(echo_port: int) -> None:
    with TcpProxy("127.0.0.1", echo_port) as proxy:
        live = socket.create_connection((proxy.host, proxy.port), timeout=5)
        assert echo(live, b"ping") == b"ping"

        proxy.cut()
        assert proxy.is_cut
        assert live.recv(4096) == b""  # the live connection ends
        live.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((proxy.host, proxy.port), timeout=5)

        proxy.restore()
        with socket.create_connection((proxy.host, proxy.port), timeout=5) as again:
            assert echo(again, b"pong") == b"pong"
        assert proxy.connections == 2
    assert proxy.is_cut  # leaving the block cuts it


def test_the_tcp_proxy_refuses_clients_when_the_service_is_gone() -> None:
    with TcpProxy("127.0.0.1", free_port()) as proxy:
        with socket.create_connection((proxy.host, proxy.port), timeout=5) as client:
            assert client.recv(4096) == b""
        assert proxy.connections == 0


def test_database_url_names_the_database_and_may_go_through_a_proxy() -> None:
    server = "postgresql+psycopg://postgres:pw@127.0.0.1:5432/test"
    assert database_url(server, "x1") == "postgresql+psycopg://postgres:pw@127.0.0.1:5432/x1"
    assert database_url(server, "x1", "127.0.0.1", 6000).endswith("@127.0.0.1:6000/x1")


def test_delete_rabbitmq_queue_removes_the_queue_and_its_messages() -> None:
    import pika.exceptions

    from tests.bot.rabbitmq_helpers import (
        broker_address,
        connect,
        publish,
        require_broker,
        unique_queue,
    )

    require_broker()
    queue = unique_queue()
    publish(queue, [b"one", b"two"])
    host, port = broker_address()
    delete_rabbitmq_queue(RabbitMqSettings(host=host, port=port, queue=queue))
    connection = connect()
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):  # 404: no such queue
            connection.channel().queue_declare(queue, passive=True)
    finally:
        connection.close()
    delete_rabbitmq_queue(RabbitMqSettings(host=host, port=port, queue=queue))  # gone: no error
