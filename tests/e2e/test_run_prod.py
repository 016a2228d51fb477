"""End to end: `make run-prod` (scripts/run_prod.py) serves the topology and Ctrl-C stops it.

One Rasa process and one action server (the two-process behaviour is
tests/e2e/test_topology.py's), on this machine's PostgreSQL, Redis and
RabbitMQ, with databases and an event queue of the test's own.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx

from bot.devtools import BOT_PYTHON, free_port
from bot.topology import drop_database
from tests.e2e.conftest import ROOT, model_path
from tests.e2e.test_topology import PG, delete_queue


def test_run_prod_serves_the_topology_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:10]
    ports = {name: free_port() for name in ("RASA", "ACTION", "IM", "ASSIST", "SHOP")}
    orders = f"{PG}/shopbot_e2e_prod_orders_{run}"
    tracker = f"shopbot_e2e_prod_tracker_{run}"
    queue = f"shopbot_e2e_prod_events_{run}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHOPBOT_")},
        **{f"{name}_PORT": str(port) for name, port in ports.items()},
        "RASA_PROCS": "1",
        "ACTION_PROCS": "1",
        "PYTHONPATH": str(ROOT),
        "SHOPBOT_VAR_DIR": str(tmp_path),
        "SHOPBOT_DB_URL": orders,
        "SHOPBOT_TRACKER_DB_NAME": tracker,
        "SHOPBOT_EVENTS_QUEUE": queue,
    }
    log = tmp_path / "run_prod.out"
    process = subprocess.Popen(
        [str(BOT_PYTHON), "scripts/run_prod.py", "--model", str(model_path())],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while "Ctrl-C stops everything" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "run_prod did not get ready"
            time.sleep(1)
        output = log.read_text()
        public = f"http://127.0.0.1:{ports['RASA']}"
        assert f"public address (nginx):  {public}" in output
        assert f"action endpoint (nginx): http://127.0.0.1:{ports['ACTION']}/webhook" in output
        assert f"shopbot_e2e_prod_tracker_{run}" in output and f"queue {queue}" in output
        assert "(event consumer running)" in output
        # The printed request, through nginx, answered from the demo orders.
        curl = shlex.split(next(line for line in output.splitlines() if line.startswith("curl ")))
        token = next(a for a in curl if a.startswith("Authorization:")).split(" ", 2)[2]
        reply = httpx.post(
            f"{public}/webhooks/shop/webhook",
            headers={"Authorization": f"Bearer {token}"},
            content=curl[curl.index("-d") + 1].encode("utf-8"),
            timeout=120,
        )
        assert reply.status_code == 200, reply.text
        assert "2026111000001" in " ".join(m.get("text", "") for m in reply.json())
        # The Rasa process's own address answers too.
        rasa = re.search(r"rasa-0 (http://127\.0\.0\.1:\d+)", output)
        assert rasa is not None
        assert httpx.get(f"{rasa.group(1)}/webhooks/shop/", timeout=10).status_code == 200
        # The shop page embeds the widget from the public address.
        page = httpx.get(f"http://127.0.0.1:{ports['SHOP']}/", timeout=10)
        assert f'src="{public}/webhooks/shop/widget.js"' in page.text
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)
        drop_database(orders)
        drop_database(f"{PG}/{tracker}")
        delete_queue(queue)
    assert "shopbot stopped." in log.read_text()
    for port in [*ports.values(), int(rasa.group(1).rsplit(":", 1)[1])]:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
        except httpx.TransportError:
            continue
        raise AssertionError(f"port {port} still served after Ctrl-C")
