"""Tests of bot/topology.py without Rasa: configuration, nginx in front of stand-ins.

nginx is Debian's (``scripts/debian.sh`` installs it); the database helpers
use the PostgreSQL of ``SHOPBOT_TEST_PG_URL`` (this machine's by default).
Both are required: the tests fail without them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from bot.devtools import DEMO_ORDERS, free_port
from bot.topology import (
    NGINX,
    PRODUCTION_DEFAULTS,
    Topology,
    drop_database,
    ensure_database,
    nginx_config,
    production_environment,
    tracker_db_url,
)

PG_URL = (
    os.environ.get("SHOPBOT_TEST_PG_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def topology(tmp_path: Path, **env: str) -> Topology:
    return Topology(model=tmp_path / "model.tar.gz", workdir=tmp_path, env=env)


def test_every_production_variable_gets_a_default_and_given_values_win() -> None:
    env = production_environment({"SHOPBOT_REDIS_HOST": "redis.internal", "OTHER": "x"})
    assert env["SHOPBOT_REDIS_HOST"] == "redis.internal"
    assert env["OTHER"] == "x"
    assert env["SHOPBOT_EVENTS_QUEUE"] == "shopbot_events"
    assert set(PRODUCTION_DEFAULTS) <= set(env)
    # Every variable endpoints.prod.yml substitutes has a default.
    endpoints = (Path(__file__).resolve().parents[2] / "endpoints.prod.yml").read_text()
    used = set(re.findall(r"\$\{(SHOPBOT_[A-Z_]+)\}", endpoints))
    assert used == set(PRODUCTION_DEFAULTS) | {"SHOPBOT_ACTION_URL"}


def test_the_tracker_url_is_built_from_its_variables() -> None:
    assert tracker_db_url({}) == "postgresql+psycopg://postgres@127.0.0.1:5432/shopbot_tracker"
    url = tracker_db_url(
        {
            "SHOPBOT_TRACKER_DB_HOST": "db",
            "SHOPBOT_TRACKER_DB_PORT": "5433",
            "SHOPBOT_TRACKER_DB_NAME": "t",
            "SHOPBOT_TRACKER_DB_USER": "rasa",
            "SHOPBOT_TRACKER_DB_PASSWORD": "p@ss",
        }
    )
    assert make_url(url).password == "p@ss"
    assert make_url(url).host == "db" and make_url(url).port == 5433


def test_the_servers_environment_points_at_the_topologys_own_addresses(tmp_path: Path) -> None:
    running = topology(tmp_path, SHOPBOT_ACTION_URL="http://elsewhere/webhook", SHOPBOT_X="1")
    env = running.environment()
    assert env["SHOPBOT_ACTION_URL"] == f"http://127.0.0.1:{running.action_port}/webhook"
    assert env["SHOPBOT_RASA_URL"] == running.url == f"http://127.0.0.1:{running.port}"
    assert env["SHOPBOT_IM_WORKER_URL"] == f"http://127.0.0.1:{running.im_port}"
    assert env["SHOPBOT_X"] == "1"
    assert env["SHOPBOT_TRACKER_DB_NAME"] == "shopbot_tracker"


def test_the_servers_are_named_and_optional_ones_run_when_configured(tmp_path: Path) -> None:
    plain = Topology(model=tmp_path, workdir=tmp_path, rasa_procs=3, action_procs=1)
    assert plain.names == ["actions-0", "rasa-0", "rasa-1", "rasa-2", "nginx"]
    assert len(set(plain.rasa_urls)) == 3
    full = Topology(
        model=tmp_path,
        workdir=tmp_path,
        env={
            "SHOPBOT_IM_SECRET": "s",
            "SHOPBOT_IM_CALLBACK_URL": "http://127.0.0.1:1/cb",
            "SHOPBOT_AGENT_TOKEN": "t",
        },
        event_consumer=True,
        shop_page=True,
    )
    assert full.names[-4:] == ["im", "assist", "consumer", "shop"]
    for name in ("rasa-2", "actions-2", "rasa-x", "redis"):
        with pytest.raises(KeyError, match="no server called"):
            full.start_process(name)
    assert full.processes == {}


def test_rasa_processes_read_the_production_endpoints_and_open_the_api_with_a_token(
    tmp_path: Path,
) -> None:
    # A token may start with "-" (token_urlsafe): it must stay one argument.
    running = topology(tmp_path, SHOPBOT_RASA_TOKEN="-api-token")
    command, health, _ = running._server("rasa-1")
    assert command[command.index("--endpoints") + 1].endswith("endpoints.prod.yml")
    assert command[command.index("--port") + 1] == str(running.rasa_ports[1])
    assert "--auth-token=-api-token" in command
    assert health == f"{running.rasa_urls[1]}/webhooks/shop/"
    without = topology(tmp_path, SHOPBOT_RASA_TOKEN="")
    assert "--enable-api" not in without._server("rasa-0")[0]


def test_nginx_accepts_the_generated_configuration(tmp_path: Path) -> None:
    assert NGINX.is_file(), "Debian's nginx is missing: run scripts/debian.sh as root"
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        nginx_config(
            "127.0.0.1:18080",
            ["127.0.0.1:15005", "127.0.0.1:15006"],
            "127.0.0.1:15055",
            ["127.0.0.1:15056"],
            folder=tmp_path,
        )
    )
    check = subprocess.run(
        [str(NGINX), "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e", str(tmp_path / "e.log")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    body = conf.read_text()
    assert "server 127.0.0.1:15005;" in body and "server 127.0.0.1:15006;" in body
    assert "/var/" not in body and "/run/" not in body


def stand_in(folder: Path, name: str, port: int) -> subprocess.Popen[bytes]:
    """A web server answering ``GET /who`` with ``name`` (a stand-in for a Rasa process)."""
    root = folder / name
    root.mkdir()
    (root / "who").write_text(name)
    return subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(url: str, up: bool) -> None:
    """Wait until ``url`` answers (``up``) or refuses connections (not ``up``)."""
    for _ in range(100):
        try:
            httpx.get(url, timeout=1)
            if up:
                return
        except httpx.TransportError:
            if not up:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} is still {'down' if up else 'up'}")


@dataclass
class Balanced:
    """nginx of a topology and the stand-ins behind it, by server name."""

    topology: Topology
    stand_ins: Dict[str, subprocess.Popen[bytes]]


@pytest.fixture()
def balanced(tmp_path: Path) -> Iterator[Balanced]:
    """nginx of a topology in front of stand-ins for two Rasa and one action server."""
    running = Topology(model=tmp_path, workdir=tmp_path / "work", action_procs=1)
    urls = [*running.rasa_urls, *running.action_urls]
    backends = dict(zip(["rasa-0", "rasa-1", "actions-0"], urls, strict=True))
    stand_ins: Dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, url in backends.items():
            stand_ins[name] = stand_in(tmp_path, name, int(url.rsplit(":", 1)[1]))
            wait_for(f"{url}/who", up=True)
        running.workdir.mkdir()
        running.write_nginx_config()
        running.start_process("nginx")
        yield Balanced(running, stand_ins)
    finally:
        running.stop()
        for server in stand_ins.values():
            server.terminate()
            server.wait()


def test_nginx_balances_the_rasa_processes_and_the_action_servers(balanced: Balanced) -> None:
    running = balanced.topology
    answers = [httpx.get(f"{running.url}/who", timeout=10).text for _ in range(6)]
    assert sorted(set(answers)) == ["rasa-0", "rasa-1"]
    actions = httpx.get(f"http://127.0.0.1:{running.action_port}/who", timeout=10)
    assert actions.text == "actions-0"
    # nginx is one of the topology's servers: its memory (workers included) counts.
    assert running.rss_kib()["nginx"] > 0
    assert (running.nginx_dir / "nginx.pid").is_file()
    assert (running.nginx_dir / "access.log").stat().st_size > 0


def test_nginx_sends_everything_to_the_other_process_while_one_is_down(
    balanced: Balanced,
) -> None:
    running = balanced.topology
    balanced.stand_ins["rasa-0"].terminate()
    balanced.stand_ins["rasa-0"].wait()
    wait_for(f"{running.rasa_urls[0]}/who", up=False)
    answers = [httpx.get(f"{running.url}/who", timeout=10) for _ in range(6)]
    assert [(a.status_code, a.text) for a in answers] == [(200, "rasa-1")] * 6


@pytest.fixture()
def pg_name() -> Iterator[str]:
    name = f"shopbot_topo_{uuid.uuid4().hex[:10]}"
    yield name
    drop_database(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))


def test_a_missing_database_is_created_once_and_dropped(pg_name: str) -> None:
    url = make_url(PG_URL).set(database=pg_name).render_as_string(hide_password=False)
    assert ensure_database(url) is True
    assert ensure_database(url) is False
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT current_database()")).scalar() == pg_name
    engine.dispose()
    drop_database(url)
    assert ensure_database(url) is True  # it was gone


def test_prepare_creates_both_databases_migrates_and_imports_the_demo_orders(
    tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex[:10]
    orders = make_url(PG_URL).set(database=f"shopbot_prep_o_{run}")
    tracker_name = f"shopbot_prep_t_{run}"
    env = {
        **os.environ,
        "SHOPBOT_DB_URL": orders.render_as_string(hide_password=False),
        "SHOPBOT_TRACKER_DB_HOST": orders.host or "127.0.0.1",
        "SHOPBOT_TRACKER_DB_PORT": str(orders.port or 5432),
        "SHOPBOT_TRACKER_DB_USER": orders.username or "postgres",
        "SHOPBOT_TRACKER_DB_PASSWORD": orders.password or "",
        "SHOPBOT_TRACKER_DB_NAME": tracker_name,
        "SHOPBOT_VAR_DIR": str(tmp_path),
    }
    command = [sys.executable, "-m", "bot.topology", "prepare", "--demo", "--wait", "5"]
    try:
        for _ in range(2):  # the second run finds everything done
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        engine = create_engine(env["SHOPBOT_DB_URL"], poolclass=NullPool)
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT order_id FROM orders")).scalars().all()
        engine.dispose()
        demo = yaml.safe_load(DEMO_ORDERS.read_text(encoding="utf-8"))["orders"]
        assert sorted(stored) == sorted({str(order["order_id"]) for order in demo})
        assert ensure_database(tracker_db_url(env)) is False  # it exists
    finally:
        drop_database(env["SHOPBOT_DB_URL"])
        drop_database(tracker_db_url(env))


def test_prepare_fails_clearly_when_postgresql_is_unreachable(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SHOPBOT_DB_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/x",
        "SHOPBOT_TRACKER_DB_PORT": str(port),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot.topology", "prepare"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert f"PostgreSQL (tracker store) at 127.0.0.1:{port}" in done.stderr
    assert f"PostgreSQL (orders) at 127.0.0.1:{port}" in done.stderr


def test_sqlite_urls_are_left_to_the_engine(tmp_path: Path) -> None:
    assert ensure_database(f"sqlite:///{tmp_path / 'x.sqlite3'}") is False
    assert not (tmp_path / "x.sqlite3").exists()


def test_unreachable_services_are_named(tmp_path: Path) -> None:
    closed = str(free_port())
    running = topology(
        tmp_path,
        SHOPBOT_REDIS_PORT=closed,
        SHOPBOT_RABBITMQ_HOST="127.0.0.1",
        SHOPBOT_RABBITMQ_PORT=closed,
    )
    with pytest.raises(RuntimeError, match="Redis .*127.0.0.1:" + closed) as error:
        running.check_services()
    assert "RabbitMQ" in str(error.value)
    assert "PostgreSQL" not in str(error.value)
