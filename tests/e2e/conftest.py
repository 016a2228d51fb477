"""Start the real action server and Rasa server for end-to-end tests.

The model comes from SHOPBOT_TEST_MODEL (``make test`` trains or reuses it);
without it the tests fail rather than skip. Each run gets free ports, a fresh
SQLite database with the demo orders and its own JWT secret.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import httpx
import pytest

from bot.auth import mint_token

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-secret-not-for-production-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not up in {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


@dataclass
class Bot:
    """The running servers and how to talk to them."""

    url: str
    action_url: str
    env: Dict[str, str]
    workdir: Path

    def token(self, subject: str = "buyer_001", role: str = "buyer", ttl: int = 600) -> str:
        return mint_token(SECRET, subject, role=role, ttl_seconds=ttl)

    def post(
        self,
        body: Any,
        token: Optional[str] = None,
        raw: Optional[bytes] = None,
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


@pytest.fixture(scope="session")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    model = os.environ.get("SHOPBOT_TEST_MODEL", "")
    if not model or not Path(model).is_file():
        pytest.fail("SHOPBOT_TEST_MODEL must name a trained model (run `make test`)")
    work = tmp_path_factory.mktemp("e2e")
    rasa_port, action_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SHOPBOT_VAR_DIR": str(work),
        "SHOPBOT_DB_URL": f"sqlite:///{work / 'e2e.sqlite3'}",
        "SHOPBOT_JWT_SECRET": SECRET,
        "SHOPBOT_TODAY": "2026-11-24",
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "db",
            "import",
            str(ROOT / "data" / "demo" / "orders.yaml"),
        ],
        env=env,
        check=True,
        cwd=ROOT,
    )
    endpoints = work / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n')
    action_log, rasa_log = work / "actions.log", work / "rasa.log"
    rasa_python = ROOT / ".venv" / "rasa" / "bin" / "python"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
            cwd=ROOT,
            env=env,
            stdout=action_log.open("wb"),
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                str(rasa_python),
                "-m",
                "rasa",
                "run",
                "--model",
                model,
                "--credentials",
                "credentials.yml",
                "--endpoints",
                str(endpoints),
                "--port",
                str(rasa_port),
                "--interface",
                "127.0.0.1",
            ],
            cwd=ROOT,
            env=env,
            stdout=rasa_log.open("wb"),
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        wait_until_up(f"http://127.0.0.1:{action_port}/health", processes[0], action_log, 120)
        wait_until_up(f"http://127.0.0.1:{rasa_port}/webhooks/shop/", processes[1], rasa_log, 300)
        yield Bot(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{action_port}", env, work)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def demo_order() -> Dict[str, Any]:
    """The demo buyer's first order in data/demo/orders.yaml."""
    import yaml

    data = yaml.safe_load((ROOT / "data" / "demo" / "orders.yaml").read_text(encoding="utf-8"))
    order: Dict[str, Any] = next(o for o in data["orders"] if o["buyer_id"] == "buyer_001")
    order["order_id"] = str(order["order_id"])
    return order
