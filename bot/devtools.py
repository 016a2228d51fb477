"""Helpers for the project's scripts, tests and benchmarks.

Command line (``python -m bot.devtools ...``)::

    wait-http URL SECONDS   wait until URL answers any HTTP status < 500

:class:`Stack` starts the real action server and Rasa server on free ports
(and, on demand, the agent assistant), as the end-to-end tests and the
benchmarks need them; :class:`FakeImPlatform` is a store IM platform's
callback endpoint for them; :class:`TcpProxy` stands in front of a service
(PostgreSQL, RabbitMQ) so that a test can cut it off and restore it;
:func:`scratch_database` creates a PostgreSQL database for one test;
:func:`shop_turns` times turns of the ``shop`` channel;
:func:`drive_conversations` is the load generator of ``make bench``
(scripted conversations at a given concurrency against any base URL) and
:func:`process_memory` / :func:`cpu_seconds` the resident memory and CPU
time of a set of processes and their children. Nothing here is used by the
bot itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

import httpx
from sqlalchemy import make_url

from bot.auth import mint_token
from bot.im_protocol import SignatureError, verify
from bot.settings import PROJECT_ROOT, RabbitMqSettings

#: The demo orders and the day they are dated around.
DEMO_ORDERS = PROJECT_ROOT / "data" / "demo" / "orders.yaml"
DEMO_TODAY = "2026-11-24"
BOT_PYTHON = PROJECT_ROOT / ".venv" / "bot" / "bin" / "python"
RASA_PYTHON = PROJECT_ROOT / ".venv" / "rasa" / "bin" / "python"
#: Debian's Chromium and its flags for the browser tests and the widget
#: benchmark (Playwright drives it; it never downloads a browser).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def answers_http(url: str) -> bool:
    """Tell whether ``url`` answers now with a status below 500 (one try)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - local URL
            return bool(reply.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


def wait_http(url: str, timeout_s: float, interval_s: float = 0.5) -> bool:
    """Poll ``url`` until it answers with a status below 500.

    Returns:
        True when it answered in time, False otherwise.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if answers_http(url):
            return True
        time.sleep(interval_s)
    return False


def percentile(values: Sequence[float], share: float) -> float:
    """Return the nearest-rank percentile of ``values`` (0 < share <= 1)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


def latency_summary(latencies: Sequence[float]) -> Dict[str, float]:
    """Return the median, 95th and 99th percentile of latencies in ms, rounded."""
    return {
        "median_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


def shop_turns(client: httpx.Client, url: str, token: str, text: str, n: int) -> List[float]:
    """Send ``text`` ``n`` times on the ``shop`` channel; return ms per turn.

    One conversation per 10 turns; each turn must get an answer.

    Args:
        client: The HTTP client.
        url: The Rasa server's base URL.
        token: A buyer token.
        text: The buyer's message.
        n: How many turns.
    """
    latencies = []
    for index in range(n):
        body = {"sender": f"bench-{text[:2]}-{index // 10}", "message": text}
        started = time.perf_counter()
        reply = client.post(
            f"{url}/webhooks/shop/webhook", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        latencies.append((time.perf_counter() - started) * 1000)
        reply.raise_for_status()
        if not reply.json():
            raise RuntimeError(f"no answer to {text!r}")
    return latencies


@dataclass(frozen=True)
class ScriptedConversation:
    """A conversation of the load generator: who writes, and what, in order.

    Attributes:
        name: A short label (``size_return``).
        subject: The token's subject (a demo buyer).
        messages: The messages; each one waits for its answer before the next.
        role: The token's role.
    """

    name: str
    subject: str
    messages: Tuple[str, ...]
    role: str = "buyer"


@dataclass
class LoadResult:
    """What :func:`drive_conversations` measured at one concurrency.

    Attributes:
        concurrency: Conversations in flight at once.
        seconds: Wall time from the first message to the last answer.
        latencies_ms: Time of each answered turn, in ms.
        positions: The place of each answered turn in its conversation (0:
            the first message, which also starts Rasa's session).
        errors: Turns that failed (no answer, an error status, a timeout).
        conversations: Conversations started.
        first_errors: The first few failures, for the operator.
    """

    concurrency: int
    seconds: float = 0.0
    latencies_ms: List[float] = field(default_factory=list)
    positions: List[int] = field(default_factory=list)
    errors: int = 0
    conversations: int = 0
    first_errors: List[str] = field(default_factory=list)

    def summary(self) -> Dict[str, Any]:
        """Return the figures: latency median/p95/p99 (ms), messages per second, counts."""
        figures: Dict[str, Any] = {"concurrency": self.concurrency}
        if self.latencies_ms:
            figures.update(latency_summary(self.latencies_ms))
        figures["messages_per_s"] = (
            round(len(self.latencies_ms) / self.seconds, 1) if self.seconds > 0 else 0.0
        )
        first = [ms for ms, at in zip(self.latencies_ms, self.positions, strict=True) if at == 0]
        later = [ms for ms, at in zip(self.latencies_ms, self.positions, strict=True) if at > 0]
        if first and later:
            figures["median_first_ms"] = round(statistics.median(first), 2)
            figures["median_later_ms"] = round(statistics.median(later), 2)
        figures.update(
            turns=len(self.latencies_ms),
            errors=self.errors,
            conversations=self.conversations,
            seconds=round(self.seconds, 1),
        )
        return figures


async def drive_conversations(
    url: str,
    secret: str,
    script: Sequence[ScriptedConversation],
    concurrency: int,
    seconds: float,
    label: str = "load",
    timeout_s: float = 60.0,
    each: Optional[int] = None,
) -> LoadResult:
    """Drive scripted conversations through the ``shop`` channel; time every turn.

    ``concurrency`` workers each run conversations of ``script`` one after
    another (worker *i* starts with conversation *i* of the script), each
    under a sender id of its own; a message is sent once the previous one is
    answered. Workers start no new message after ``seconds``; the result
    covers every message sent.

    Args:
        url: The base URL buyers reach (a Rasa server, or the load balancer).
        secret: The JWT secret the servers verify tokens with.
        script: The conversations.
        concurrency: Conversations in flight at once.
        seconds: How long to keep starting messages.
        label: Part of every sender id (unique per run and level).
        timeout_s: How long one turn may take before it counts as failed.
        each: Run exactly this many whole conversations per worker instead,
            however long they take (``seconds`` is then ignored).

    Returns:
        The latencies, errors and wall time.
    """
    result = LoadResult(concurrency)
    tokens = {
        (c.subject, c.role): mint_token(secret, c.subject, role=c.role, ttl_seconds=3600)
        for c in script
    }
    # One client (one kept connection) per worker: a shared pool of many
    # connections costs the client several ms of CPU per request at 128.
    # They share one TLS context (each client would load the CA file again).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = ssl.create_default_context()
    started = time.perf_counter()
    deadline = started + seconds

    async def turn(
        client: httpx.AsyncClient, sender: str, token: str, text: str, position: int
    ) -> None:
        began = time.perf_counter()
        try:
            reply = await client.post(
                f"{url}/webhooks/shop/webhook",
                json={"sender": sender, "message": text},
                headers={"Authorization": f"Bearer {token}"},
            )
            answered = reply.status_code == 200 and bool(reply.json())
            problem = f"{reply.status_code} {reply.text[:200]}"
        except (httpx.HTTPError, ValueError) as exc:
            answered, problem = False, f"{type(exc).__name__}: {exc}"
        if answered:
            result.latencies_ms.append((time.perf_counter() - began) * 1000)
            result.positions.append(position)
            return
        result.errors += 1
        if len(result.first_errors) < 5:
            result.first_errors.append(f"{sender} {text!r}: {problem}")

    def going(number: int) -> bool:
        if each is not None:
            return number // concurrency < each
        return time.perf_counter() < deadline

    async def worker(index: int) -> None:
        async with httpx.AsyncClient(timeout=timeout_s, limits=limits, verify=tls) as client:
            await conversations(client, index)

    async def conversations(client: httpx.AsyncClient, index: int) -> None:
        number = index
        while going(number):
            conversation = script[number % len(script)]
            sender = f"{label}-{index}-{number // concurrency}"
            result.conversations += 1
            token = tokens[(conversation.subject, conversation.role)]
            for position, text in enumerate(conversation.messages):
                if each is None and time.perf_counter() >= deadline:
                    break
                await turn(client, sender, token, text, position)
            number += concurrency

    await asyncio.gather(*(worker(index) for index in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def delete_rabbitmq_queue(rabbitmq: RabbitMqSettings) -> None:
    """Delete RabbitMQ's queue ``rabbitmq.queue`` (nothing happens when it does not exist)."""
    import pika

    from bot.event_consumer import connection_parameters

    connection = pika.BlockingConnection(connection_parameters(rabbitmq))
    try:
        connection.channel().queue_delete(rabbitmq.queue)
    finally:
        connection.close()


def children(pid: int) -> List[int]:
    """Return the pids of every descendant of process ``pid`` (Linux)."""
    parents: Dict[int, List[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
    found: List[int] = []
    pending = [pid]
    while pending:
        for child in parents.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return sorted(found)


def cpu_seconds(pids: Mapping[str, int]) -> Dict[str, float]:
    """Return the CPU time (user + system, s) used so far by named processes and their children.

    Args:
        pids: The processes by name.

    Returns:
        For each name, the CPU seconds of the process and its live
        descendants (a Sanic server's workers) together.
    """
    tick = os.sysconf("SC_CLK_TCK")
    used: Dict[str, float] = {}
    for name, pid in pids.items():
        total = 0
        for each in (pid, *children(pid)):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        used[name] = total / tick
    return used


def _memory_kib(pid: int) -> Dict[str, int]:
    fields = {
        "VmRSS:": "rss_kib",
        "VmHWM:": "peak_kib",
        "RssAnon:": "anon_kib",
        "RssFile:": "file_kib",
    }
    values = dict.fromkeys(fields.values(), 0)
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name = line.split(maxsplit=1)[0] if line else ""
            if name in fields:
                values[fields[name]] = int(line.split()[1])
    return values


def process_memory(pids: Mapping[str, int]) -> Dict[str, Dict[str, Any]]:
    """Return the resident memory (now and peak, MiB) of named processes and their children.

    Args:
        pids: The processes by name (``rasa``, ``actions``, ``nginx``...).

    Returns:
        For each name (and ``NAME/child-PID`` for each descendant, such as a
        Sanic worker): ``pid``, ``rss_mib``, ``peak_rss_mib`` (VmHWM), and
        the resident memory split into ``anon_mib`` (the process's own) and
        ``file_mib`` (mapped files such as shared libraries, which processes
        running the same programme share; the kernel drops and reloads these
        pages, so the resident total varies with the machine's other work).
        Processes that have exited are left out.
    """
    memory: Dict[str, Dict[str, Any]] = {}
    for name, pid in pids.items():
        for each, key in [(pid, name), *((c, f"{name}/child-{c}") for c in children(pid))]:
            kib = _memory_kib(each)
            if kib["rss_kib"]:
                memory[key] = {
                    "pid": each,
                    "rss_mib": round(kib["rss_kib"] / 1024, 1),
                    "peak_rss_mib": round(kib["peak_kib"] / 1024, 1),
                    "anon_mib": round(kib["anon_kib"] / 1024, 1),
                    "file_mib": round(kib["file_kib"] / 1024, 1),
                }
    return memory


class FakeImPlatform:
    """A store IM platform's callback endpoint on a fixed port.

    It checks every delivery's signature (401 when wrong), refuses the first
    ``reject`` ones with 503 and records the accepted ones in arrival order,
    with their arrival time (``time.perf_counter``).

    Args:
        port: Where it listens (127.0.0.1).
        secret: The IM secret the deliveries are signed with.
        path: The callback's path.
    """

    def __init__(self, port: int, secret: str, path: str = "/im/callback") -> None:
        self.port = port
        self.secret = secret
        self.path = path
        self.reject = 0
        self.accepted: List[Dict[str, Any]] = []
        self.arrived: Dict[str, float] = {}
        self.refused = 0
        self.badly_signed = 0
        self._lock = threading.Condition()
        self._server: Optional[ThreadingHTTPServer] = None

    @property
    def url(self) -> str:
        """The callback URL (``SHOPBOT_IM_CALLBACK_URL``)."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self, reject: int = 0) -> FakeImPlatform:
        """Listen (again), refusing the first ``reject`` deliveries."""
        self.reject = reject
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = platform.record(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def record(self, path: str, headers: Mapping[str, str], body: bytes) -> int:
        """Check and record one delivery; return the HTTP status to answer."""
        arrived = time.perf_counter()
        with self._lock:
            try:
                verify(self.secret, headers, body)
            except SignatureError:
                self.badly_signed += 1
                return 401
            if path != self.path:
                return 404
            if self.reject > 0:
                self.reject -= 1
                self.refused += 1
                return 503
            reply = json.loads(body)
            self.accepted.append(reply)
            self.arrived.setdefault(str(reply.get("reply_to")), arrived)
            self._lock.notify_all()
            return 200

    def wait_for(self, reply_to: str, timeout_s: float) -> Optional[float]:
        """Wait until the reply to ``reply_to`` arrived; return its arrival time."""
        with self._lock:
            self._lock.wait_for(lambda: reply_to in self.arrived, timeout=timeout_s)
            return self.arrived.get(reply_to)

    def replies_to(self, conversation: str) -> List[str]:
        """Return the ``reply_to`` of the accepted replies of a conversation, in order."""
        with self._lock:
            return [r["reply_to"] for r in self.accepted if r["conversation_id"] == conversation]

    def stop(self) -> None:
        """Stop listening (deliveries then fail to connect)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class TcpProxy:
    """A TCP proxy on 127.0.0.1 in front of a service, to take the service away.

    It listens on a free port and forwards every connection to the target.
    :meth:`cut` closes the live connections (both ends see them drop) and
    stops listening, so new connections are refused, as when the service's
    machine is gone; :meth:`restore` listens again on the same port. The
    service itself is never touched.

    Args:
        target_host: The service's host.
        target_port: The service's port.
        port: Where to listen; a free port when omitted.
    """

    def __init__(self, target_host: str, target_port: int, port: Optional[int] = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        #: Connections forwarded so far (cut or not).
        self.connections = 0
        self._lock = threading.Lock()
        self._listener: Optional[socket.socket] = None
        self._live: Set[socket.socket] = set()
        self._acceptor: Optional[threading.Thread] = None
        self.restore()

    @property
    def host(self) -> str:
        """The proxy's host (point clients here instead of the service)."""
        return "127.0.0.1"

    @property
    def is_cut(self) -> bool:
        """Whether the proxy is cut (not listening)."""
        return self._listener is None

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cut()

    def restore(self) -> None:
        """Listen (again) on the proxy's port and forward new connections."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            listener.settimeout(0.1)
            self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        """Drop every live connection and refuse new ones until :meth:`restore`."""
        with self._lock:
            listener, self._listener = self._listener, None
            live, self._live = self._live, set()
        if listener is not None:
            _close(listener)  # on Linux the shutdown stops the listening at once
        if self._acceptor is not None:
            self._acceptor.join()
            self._acceptor = None
        for sock in live:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by cut()
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._live.update((client, upstream))
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._live.difference_update((source, sink))
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    """Shut a socket down both ways (its peer sees the end at once) and close it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


#: The PostgreSQL server of this machine (trust auth), as the tests reach it.
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def scratch_database(server_url: str = DEFAULT_PG_URL, prefix: str = "shopbot") -> Iterator[str]:
    """Create a PostgreSQL database with a unique name; drop it afterwards.

    Args:
        server_url: A SQLAlchemy URL of any database on the server (its user
            must be allowed to create databases).
        prefix: The start of the new database's name.

    Yields:
        The new database's name (``server_url`` with it: ``url.set(database=name)``).
    """
    # bot.topology builds on this module's process runner: imported when called.
    from bot.topology import drop_database, ensure_database

    name = f"{prefix}_{secrets.token_hex(6)}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    if not ensure_database(url):
        raise RuntimeError(f"database {name} exists already")
    try:
        yield name
    finally:
        drop_database(url)


def database_url(server_url: str, name: str, host: Optional[str] = None, port: int = 0) -> str:
    """Return ``server_url`` naming database ``name`` (and another host and port, if given)."""
    url = make_url(server_url).set(database=name)
    if host is not None:
        url = url.set(host=host, port=port or url.port)
    return url.render_as_string(hide_password=False)


def bench_arguments(
    doc: str, n: int, n_help: str, out_name: str, argv: Optional[Sequence[str]] = None
) -> argparse.Namespace:
    """Parse a benchmark script's command line: ``--model``, ``-n``, ``--out``.

    Args:
        doc: The script's docstring (its first line describes it).
        n: Default of ``-n``.
        n_help: What ``-n`` counts.
        out_name: File name of the JSON result under ``results/``.
        argv: The arguments; ``sys.argv[1:]`` when omitted.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "models" / "current.tar.gz")
    parser.add_argument("-n", type=int, default=n, help=n_help)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "results" / out_name)
    return parser.parse_args(argv)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    """Return the resident memory of process ``pid`` in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def group_rss_kib(pgid: int) -> int:
    """Return the resident memory of every process of process group ``pgid`` in KiB.

    A server started by :class:`ServerProcesses` leads a group of its own;
    the group holds its workers too (the action server's Sanic worker, nginx's
    worker), so this is the memory the server costs.
    """
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may hold spaces: split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += rss_kib(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
    return total


class ServerProcesses:
    """Named server processes, each leading a process group of its own.

    The process runner of :class:`Stack` and :class:`bot.topology.Topology`: a
    subclass says how to start a server by name (:meth:`_server`) and with
    which environment (:meth:`_environment`); this class starts servers (one,
    or several at once), waits until they answer, restarts and stops them
    (one SIGTERM each) and reports their memory. Each server's output goes to
    ``workdir/<name>.log`` (appended on a restart).

    Attributes:
        workdir: Folder of the logs.
        processes: The running servers by name.
        startup_seconds: Seconds from the (last) start of each server until it answered.
        ready_at: When each server (last) answered first (``time.time()``).
    """

    workdir: Path
    processes: Dict[str, subprocess.Popen[bytes]]
    startup_seconds: Dict[str, float]
    ready_at: Dict[str, float]

    def _environment(self) -> Dict[str, str]:
        """Return the environment of the servers."""
        return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}

    def _server(self, name: str) -> Tuple[List[str], Optional[str], float]:
        """Return how to start server ``name``: its command, health URL and start-up limit (s).

        A server without a health URL counts as started when it still runs
        after a second.

        Raises:
            KeyError: There is no server called ``name``.
        """
        raise KeyError(f"no server called {name!r}")

    def _launch(self, name: str, command: List[str]) -> float:
        """Start server ``name`` without waiting for it; return when it started (monotonic)."""
        log = self.workdir / f"{name}.log"
        started = time.monotonic()
        # Each server gets its own session and process group: the action
        # server's Sanic worker manager may SIGKILL the process group of its
        # workers when it shuts down, which must not be the caller's.
        with log.open("ab") as output:  # a restart appends to the first run's log
            self.processes[name] = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self._environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return started

    def _await(self, waits: Mapping[str, Tuple[Optional[str], float, float]]) -> None:
        """Wait until each server answers; stop everything if one never does.

        Args:
            waits: Server name → (health URL, start-up limit in s, start time
                (monotonic)). The servers are checked in turn, so each one's
                ``startup_seconds`` is its own however many start at once.

        Raises:
            RuntimeError: A server exited or did not answer in time.
        """
        pending = dict(waits)
        while pending:
            for name, (health, timeout_s, started) in list(pending.items()):
                process = self.processes[name]
                if health is None:  # started once it ran for a second
                    answered = time.monotonic() - started >= 1.0 and process.poll() is None
                else:
                    answered = answers_http(health)
                if answered:
                    self.ready_at[name] = time.time()
                    self.startup_seconds[name] = time.monotonic() - started
                    del pending[name]
                elif process.poll() is not None or time.monotonic() > started + timeout_s:
                    log = self.workdir / f"{name}.log"
                    tail = log.read_text(errors="replace")[-3000:]
                    self.stop()
                    raise RuntimeError(f"{name} did not start:\n{tail}")
            if pending:
                time.sleep(0.1)

    def _spawn(
        self, name: str, command: List[str], health: Optional[str], timeout_s: float
    ) -> None:
        """Start server ``name`` with ``command`` and wait until it answers at ``health``."""
        self._await({name: (health, timeout_s, self._launch(name, command))})

    def start_process(self, name: str) -> None:
        """Start one server (again, after :meth:`stop_process`); wait for it.

        The servers keep their ports for their runner's lifetime, so a
        restarted server answers where the old one did (a restart is
        ``stop_process`` then ``start_process``). ``ready_at[name]`` is when
        it first answered (``time.time()``, to compare with Rasa's event
        timestamps).

        Raises:
            KeyError: There is no server called ``name``.
            RuntimeError: It runs already, exited or did not answer in time
                (every server is then stopped).
        """
        self.start_processes([name])

    def start_processes(self, names: Sequence[str]) -> None:
        """Start several servers at once, then wait until each answers.

        Raises:
            KeyError: One of ``names`` is no server of this runner (nothing is started).
            RuntimeError: One runs already, exited or did not answer in time
                (every server is then stopped).
        """
        plans = {name: self._server(name) for name in names}
        running = [name for name in names if name in self.processes]
        if running:
            raise RuntimeError(f"{', '.join(running)} is running already")
        started = {name: self._launch(name, plan[0]) for name, plan in plans.items()}
        self._await(
            {
                name: (health, timeout_s, started[name])
                for name, (_, health, timeout_s) in plans.items()
            }
        )

    def stop_process(self, name: str) -> None:
        """Stop one server (terminate, then kill after 20 s) and forget it.

        Whatever is left of the server's own process group (its workers) is
        killed as well.
        """
        process = self.processes.pop(name)
        if process.poll() is None:
            process.terminate()
        _wait_or_kill(process)

    def pids(self) -> Dict[str, int]:
        """Return the pid of each running server by name (see :func:`process_memory`)."""
        return {name: p.pid for name, p in self.processes.items() if p.poll() is None}

    def rss_kib(self) -> Dict[str, int]:
        """Return the resident memory of each running server in KiB, its workers included."""
        return {
            name: group_rss_kib(process.pid)
            for name, process in self.processes.items()
            if process.poll() is None
        }

    def stop(self) -> None:
        """Stop every server: one SIGTERM each, then kill what still runs after 20 s.

        A second SIGTERM would interrupt a server's shutdown (Sanic then kills
        its process group), so each gets exactly one.
        """
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for name in list(self.processes):
            _wait_or_kill(self.processes.pop(name))


@dataclass
class Stack(ServerProcesses):
    """The action server and the Rasa server, started on free ports.

    Args:
        model: Path of the trained model.
        workdir: Folder for logs and the generated endpoints file.
        env: Extra environment for both servers (database, secret, today).
        endpoints_extra: YAML appended to the generated endpoints file
            (``tracker_store:``, ``lock_store:``, ``event_broker:`` sections).
        with_actions: Whether :meth:`start` starts the action server; without
            it, the Rasa server has no action endpoint (a bare Rasa bot:
            only turns answered by ``domain.yml`` responses work).
    """

    model: Path
    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    endpoints_extra: str = ""
    with_actions: bool = True
    rasa_port: int = field(default_factory=free_port)
    action_port: int = field(default_factory=free_port)
    im_port: int = field(default_factory=free_port)
    assist_port: int = field(default_factory=free_port)
    processes: Dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    startup_seconds: Dict[str, float] = field(default_factory=dict)
    ready_at: Dict[str, float] = field(default_factory=dict)

    @classmethod
    def local(
        cls,
        model: Path,
        workdir: Path,
        secret: str,
        today: str = DEMO_TODAY,
        db_url: Optional[str] = None,
    ) -> Stack:
        """Return a stack on a fresh database, its schema at the newest revision.

        Args:
            model: Path of the trained model.
            workdir: Folder for the database, logs and endpoints file.
            secret: The JWT secret the servers verify tokens with.
            today: The pinned date (``SHOPBOT_TODAY``, YYYY-MM-DD).
            db_url: An empty database (``SHOPBOT_DB_URL``); a new SQLite file
                in ``workdir`` when omitted.

        Returns:
            The stack, not yet started; its database holds no rows.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        if db_url is None:
            database = workdir / "shopbot.sqlite3"
            database.unlink(missing_ok=True)
            db_url = f"sqlite:///{database}"
        env = {
            "SHOPBOT_VAR_DIR": str(workdir),
            "SHOPBOT_DB_URL": db_url,
            "SHOPBOT_JWT_SECRET": secret,
            "SHOPBOT_TODAY": today,
            "SHOPBOT_RASA_TOKEN": secrets.token_urlsafe(24),
        }
        stack = cls(model=model, workdir=workdir, env=env)
        subprocess.run(
            [str(BOT_PYTHON), "-m", "bot.cli", "db", "upgrade"],
            cwd=PROJECT_ROOT,
            env=stack._environment(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return stack

    @classmethod
    def demo(cls, model: Path, workdir: Path, secret: str, db_url: Optional[str] = None) -> Stack:
        """Return a stack on a fresh database holding the demo orders.

        Args:
            model: Path of the trained model.
            workdir: Folder for the database, logs and endpoints file.
            secret: The JWT secret the servers verify tokens with.
            db_url: An empty database (``SHOPBOT_DB_URL``); a new SQLite file
                in ``workdir`` when omitted.

        Returns:
            The stack, not yet started.
        """
        stack = cls.local(model, workdir, secret, db_url=db_url)
        subprocess.run(
            [str(BOT_PYTHON), "-m", "bot.cli", "db", "import", str(DEMO_ORDERS)],
            cwd=PROJECT_ROOT,
            env=stack._environment(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return stack

    @property
    def url(self) -> str:
        """The Rasa server's base URL."""
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def im_enabled(self) -> bool:
        """Whether the IM channel is configured (then the IM worker runs too)."""
        return bool(self.env.get("SHOPBOT_IM_SECRET") and self.env.get("SHOPBOT_IM_CALLBACK_URL"))

    @property
    def assist_url(self) -> str:
        """The agent assistant's base URL (after :meth:`start_assist`)."""
        return f"http://127.0.0.1:{self.assist_port}"

    def _environment(self) -> Dict[str, str]:
        ports = {
            "SHOPBOT_RASA_URL": self.url,
            "SHOPBOT_IM_WORKER_URL": f"http://127.0.0.1:{self.im_port}",
        }
        return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **ports, **self.env}

    def _server(self, name: str) -> Tuple[List[str], Optional[str], float]:
        """Return how to start server ``name``: its command, health URL and start-up limit (s).

        Raises:
            KeyError: ``name`` is not one of ``actions``, ``rasa``, ``im``, ``assist``.
        """
        if name == "actions":
            return (
                [
                    *(str(BOT_PYTHON), "-m", "rasa_sdk", "--actions", "actions"),
                    *("--port", str(self.action_port)),
                ],
                f"http://127.0.0.1:{self.action_port}/health",
                120,
            )
        if name == "rasa":
            return (
                [
                    *(
                        str(RASA_PYTHON),
                        "-m",
                        "shopbot_rasa.server",
                        "run",
                        "--model",
                        str(self.model),
                    ),
                    *("--credentials", "credentials.yml", "--endpoints", str(self.endpoints)),
                    *("--port", str(self.rasa_port), "--interface", "127.0.0.1"),
                    *self._api_arguments(),
                ],
                f"{self.url}/webhooks/shop/",
                300,
            )
        if name == "im":
            return (
                [str(BOT_PYTHON), "-m", "bot.im_worker", "--port", str(self.im_port)],
                f"http://127.0.0.1:{self.im_port}/health",
                60,
            )
        if name == "assist":
            return (
                [str(BOT_PYTHON), "-m", "bot.assist.app", "--port", str(self.assist_port)],
                f"{self.assist_url}/assist/health",
                60,
            )
        raise KeyError(f"no server called {name!r}")

    def start_im_worker(self) -> None:
        """Start the IM worker (``python -m bot.im_worker``) and wait for it."""
        self.start_process("im")

    @property
    def endpoints(self) -> Path:
        """The Rasa server's endpoints file (written by :meth:`start`)."""
        return self.workdir / "endpoints.yml"

    def start(self) -> Stack:
        """Start the servers (and the IM worker if configured); wait until they answer."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        action_endpoint = f"action_endpoint:\n  url: http://127.0.0.1:{self.action_port}/webhook\n"
        self.endpoints.write_text(
            (action_endpoint if self.with_actions else "") + self.endpoints_extra
        )
        if self.with_actions:
            self.start_process("actions")
        self.start_process("rasa")
        if self.im_enabled:
            self.start_im_worker()
        return self

    def _api_arguments(self) -> List[str]:
        """Rasa's HTTP API, token-protected, when the stack has a token."""
        token = self.env.get("SHOPBOT_RASA_TOKEN")
        # One argument: a token may start with "-" (token_urlsafe), which argparse
        # would take for an option.
        return ["--enable-api", f"--auth-token={token}"] if token else []

    def start_assist(self, agent_token: str) -> Stack:
        """Start the agent assistant (after :meth:`start`) and wait until it answers.

        Args:
            agent_token: The token agents use (``SHOPBOT_AGENT_TOKEN``).
        """
        self.env = {**self.env, "SHOPBOT_AGENT_TOKEN": agent_token, "SHOPBOT_RASA_URL": self.url}
        self.start_process("assist")
        return self


def _wait_or_kill(process: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    """Wait for a terminated server to exit; kill it after ``timeout_s``.

    Whatever is left of the server's own process group (its workers) is
    killed as well.
    """
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    pid = getattr(process, "pid", None)
    if isinstance(pid, int):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def main(argv: Sequence[str]) -> int:
    """Run one helper; return an exit code."""
    if len(argv) == 3 and argv[0] == "wait-http":
        if wait_http(argv[1], float(argv[2])):
            return 0
        print(f"{argv[1]} did not answer within {argv[2]} s", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
