"""End to end: `make run-prod` (scripts/run_prod.py) serves the topology and Ctrl-C stops it.

One Rasa process and one action server (the two-process behaviour is
tests/e2e/test_topology.py's), on this machine's PostgreSQL, Redis and
RabbitMQ, with databases and an event queue of the test's own.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Dict

import httpx

from bot.devtools import BOT_PYTHON, free_port
from bot.topology import drop_database
from tests.bot.rabbitmq_helpers import delete_queue
from tests.e2e.conftest import (
    ROOT,
    assert_ports_closed,
    model_path,
    printed_request,
    run_foreground,
)
from tests.e2e.test_topology import PG


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
    command = [str(BOT_PYTHON), "scripts/run_prod.py", "--model", str(model_path())]
    try:
        with run_foreground(command, env, log) as (_, output):
            _check_served(output, ports, run, queue)
    finally:
        drop_database(orders)
        drop_database(f"{PG}/{tracker}")
        delete_queue(queue)
    assert "shopbot stopped." in log.read_text()
    rasa = re.search(r"rasa-0 (http://127\.0\.0\.1:\d+)", log.read_text())
    assert rasa is not None
    assert_ports_closed([*ports.values(), int(rasa.group(1).rsplit(":", 1)[1])])


def _check_served(output: str, ports: Dict[str, int], run: str, queue: str) -> None:
    """The printed addresses answer: nginx, the Rasa process, the shop page."""
    public = f"http://127.0.0.1:{ports['RASA']}"
    assert f"public address (nginx):  {public}" in output
    assert f"action endpoint (nginx): http://127.0.0.1:{ports['ACTION']}/webhook" in output
    assert f"shopbot_e2e_prod_tracker_{run}" in output and f"queue {queue}" in output
    assert "(event consumer running)" in output
    # The printed request, through nginx, answered from the demo orders.
    token, body = printed_request(output)
    reply = httpx.post(
        f"{public}/webhooks/shop/webhook",
        headers={"Authorization": f"Bearer {token}"},
        content=body,
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
