"""Start the real action server and Rasa server for end-to-end tests.

The model comes from SHOPBOT_TEST_MODEL (``make test`` trains or reuses it);
without it the tests fail rather than skip. Each run gets free ports, a fresh
SQLite database with the demo orders and its own JWT secret.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from bot.assist.rasa import TranscriptLine, conversation_path, transcript
from bot.auth import mint_token
from bot.demo_shop import make_server, serve_in_background
from bot.devtools import CHROMIUM, CHROMIUM_ARGS, DEMO_ORDERS, Stack, free_port
from bot.handoffs import record_handoff
from bot.settings import PROJECT_ROOT as ROOT
from bot.settings import load_settings

SECRET = "e2e-secret-not-for-production-0123456789"
#: The IM channel's secret; its fake platform (tests/e2e/test_im_channel.py)
#: listens on Bot.im_platform_port.
IM_SECRET = "e2e-im-secret-not-for-production-987654"
#: The agent assistant's token (the ``assist`` fixture starts it).
AGENT_TOKEN = "e2e-agent-token-not-for-production"

__all__ = [
    "AGENT_TOKEN",
    "ROOT",
    "Bot",
    "assert_ports_closed",
    "free_port",
    "printed_request",
    "run_foreground",
    "screenshot",
    "shop_page",
    "start_bot",
]

#: The last line a foreground run script prints once everything answers.
READY_BANNER = "Ctrl-C stops everything"

#: Screenshots of the browser tests, one folder per test module.
SCREENSHOTS = ROOT / "results" / "tests"


class Bot:
    """The running servers and how to talk to them.

    Attributes:
        shop_origin: The one browser origin the servers accept (the demo
            shop page of the ``shop`` fixture is served there).
        im_platform_port: Where the IM worker delivers replies
            (``/im/callback``); nothing listens there until a test does.
    """

    def __init__(self, stack: Stack, shop_origin: str, im_platform_port: int) -> None:
        self.stack = stack
        self.url = stack.url
        self.shop_origin = shop_origin
        self.im_platform_port = im_platform_port

    def token(self, subject: str = "buyer_001", role: str = "buyer", ttl: int = 600) -> str:
        return mint_token(SECRET, subject, role=role, ttl_seconds=ttl)

    def post(
        self, body: Any, token: Optional[str] = None, raw: Optional[bytes] = None
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.post(
            f"{self.url}/webhooks/shop/webhook",
            headers=headers,
            content=raw,
            json=None if raw is not None else body,
            timeout=60,
        )

    def say(self, sender: str, message: str, subject: str = "buyer_001") -> List[Dict[str, Any]]:
        reply = self.post({"sender": sender, "message": message}, token=self.token(subject))
        assert reply.status_code == 200, reply.text
        messages: List[Dict[str, Any]] = reply.json()
        return messages

    def hand_off(
        self, sender: str, channel: str = "shop", subject: str = "buyer_001", **summary: Any
    ) -> int:
        """Hand a conversation to a person as the dialogue does; return the handoff's id.

        Rasa's tracker is paused through its HTTP API (the action server
        returns ``ConversationPaused()``) and the handoff recorded with
        :func:`bot.handoffs.record_handoff`.
        """
        reply = httpx.post(
            f"{self.url}/conversations/{conversation_path(sender)}/tracker/events",
            params={"token": self.stack.env["SHOPBOT_RASA_TOKEN"]},
            json={"event": "pause"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        view = record_handoff(
            load_settings(self.stack.env),
            conversation_id=sender,
            channel=channel,
            subject=subject,
            role="buyer",
            reason="request_human",
            order_id=summary.get("order", {}).get("order_id"),
            problem=None,
            summary=summary,
        )
        return view.id

    def transcript(self, sender: str) -> List[TranscriptLine]:
        """The conversation's messages as Rasa's tracker holds them (its HTTP API)."""
        reply = httpx.get(
            f"{self.url}/conversations/{conversation_path(sender)}/tracker",
            params={"token": self.stack.env["SHOPBOT_RASA_TOKEN"]},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        return transcript(reply.json())

    def agent(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """Call the agent assistant (the ``assist`` fixture starts it) with the agent token."""
        return httpx.request(
            method,
            f"{self.stack.assist_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {AGENT_TOKEN}"},
            timeout=30,
        )


def model_path() -> Path:
    model = os.environ.get("SHOPBOT_TEST_MODEL", "")
    if not model or not Path(model).is_file():
        pytest.fail("SHOPBOT_TEST_MODEL must name a trained model (run `make test`)")
    return Path(model)


def start_bot(workdir: Path, im_platform_port: Optional[int] = None, **env: str) -> Bot:
    """Start a stack on a fresh demo database whose servers accept one new shop origin.

    Args:
        workdir: Folder for the database, logs and endpoints file.
        im_platform_port: The fake IM platform's port (a free one when omitted).
        **env: Extra environment for the servers.

    Returns:
        The running servers; stop them with ``bot.stack.stop()``.
    """
    shop_origin = f"http://127.0.0.1:{free_port()}"
    stack = Stack.demo(model_path(), workdir, SECRET)
    stack.env = {**stack.env, "SHOPBOT_CORS_ORIGINS": shop_origin, **env}
    stack.start()
    return Bot(stack, shop_origin, im_platform_port or free_port())


@contextmanager
def shop_page(bot: Bot, evidence_url: Optional[str] = None) -> Iterator[str]:
    """Serve the demo shop page on ``bot.shop_origin``; yield that origin."""
    port = urlsplit(bot.shop_origin).port or 80
    server = make_server("127.0.0.1", port, bot.url, SECRET, evidence_url=evidence_url)
    assert serve_in_background(server) == bot.shop_origin
    try:
        yield bot.shop_origin
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    im_platform_port = free_port()
    started = start_bot(
        tmp_path_factory.mktemp("e2e"),
        im_platform_port,
        SHOPBOT_IM_SECRET=IM_SECRET,
        SHOPBOT_IM_CALLBACK_URL=f"http://127.0.0.1:{im_platform_port}/im/callback",
        SHOPBOT_IM_BACKOFF="0.2/1",
    )
    try:
        yield started
    finally:
        started.stack.stop()


@pytest.fixture(scope="session")
def shop(bot: Bot) -> Iterator[str]:
    """The demo shop page, served on the origin the servers accept.

    Its widget uploads evidence photos to the assistant's address (the
    ``assist`` fixture starts it for the tests that upload).
    """
    with shop_page(bot, evidence_url=f"{bot.stack.assist_url}/evidence/upload") as origin:
        yield origin


@pytest.fixture(scope="session")
def assist(bot: Bot) -> Iterator[str]:
    """The assistant's base URL (stopped with the session's servers)."""
    bot.stack.start_assist(AGENT_TOKEN)
    yield bot.stack.assist_url


@pytest.fixture(scope="session")
def demo_order() -> Dict[str, Any]:
    """The demo buyer's first order in data/demo/orders.yaml."""
    data = yaml.safe_load(DEMO_ORDERS.read_text(encoding="utf-8"))
    order: Dict[str, Any] = next(o for o in data["orders"] if o["buyer_id"] == "buyer_001")
    order["order_id"] = str(order["order_id"])
    return order


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.is_file():
        pytest.fail(
            "Debian's chromium is missing: run `apt-get install chromium` as root "
            "(scripts/test.sh does so when it runs as root)"
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
    yield browser
    browser.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def screenshot(page: Page, name: str, folder: str = "widget") -> Path:
    """Save a screenshot under ``results/tests/FOLDER/NAME.png``; return its path."""
    target = SCREENSHOTS / folder
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 1000
    return path


@contextmanager
def run_foreground(
    command: Sequence[str], env: Mapping[str, str], log: Path, timeout_s: float = 600
) -> Iterator[Tuple[subprocess.Popen[bytes], str]]:
    """Start a foreground run script (``make run``'s or ``make run-prod``'s), wait for its banner.

    Yields the process and what it printed up to the banner; on exit it gets
    Ctrl-C (SIGINT to its process group) and is waited for.

    Raises:
        AssertionError: It exited or printed no banner within ``timeout_s``.
    """
    process = subprocess.Popen(
        list(command),
        cwd=ROOT,
        env=dict(env),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while READY_BANNER not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, f"{command} did not get ready"
            time.sleep(1)
        yield process, log.read_text()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)


def printed_request(output: str) -> Tuple[str, bytes]:
    """Return the buyer token and the body of the ``curl`` line a run script printed."""
    args = shlex.split(next(line for line in output.splitlines() if line.startswith("curl ")))
    headers = [args[i + 1] for i, arg in enumerate(args) if arg == "-H"]
    token = next(h.split(" ", 2)[2] for h in headers if h.startswith("Authorization:"))
    return token, args[args.index("-d") + 1].encode("utf-8")


def assert_ports_closed(ports: Iterable[int]) -> None:
    """Fail when any of ``ports`` on 127.0.0.1 still answers HTTP (after Ctrl-C)."""
    time.sleep(1)
    for port in ports:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
        except httpx.TransportError:
            continue
        raise AssertionError(f"port {port} still served after Ctrl-C")
