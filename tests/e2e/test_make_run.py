"""End to end: the README's run command serves the demo and stops cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.e2e.conftest import (
    assert_ports_closed,
    free_port,
    printed_request,
    run_foreground,
)


def test_run_script_serves_the_demo_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    rasa_port, action_port, shop_port = free_port(), free_port(), free_port()
    im_port = free_port()
    env = {
        **os.environ,
        "RASA_PORT": str(rasa_port),
        "ACTION_PORT": str(action_port),
        "SHOP_PORT": str(shop_port),
        "IM_PORT": str(im_port),
        "SHOPBOT_VAR_DIR": str(tmp_path),
        # The IM channel is on: make run starts its worker too.
        "SHOPBOT_IM_SECRET": "run-test-im-secret",
        "SHOPBOT_IM_CALLBACK_URL": f"http://127.0.0.1:{free_port()}/callback",
    }
    env.pop("SHOPBOT_DB_URL", None)
    env.pop("SHOPBOT_JWT_SECRET", None)
    env.pop("SHOPBOT_CORS_ORIGINS", None)
    log = tmp_path / "run.out"
    with run_foreground(["bash", "scripts/run.sh"], env, log) as (_, output):
        token, body = printed_request(output)
        assert f"curl -s -X POST http://127.0.0.1:{rasa_port}/webhooks/shop/webhook" in output
        reply = httpx.post(
            f"http://127.0.0.1:{rasa_port}/webhooks/shop/webhook",
            headers={"Authorization": f"Bearer {token}"},
            content=body,
            timeout=60,
        )
        assert reply.status_code == 200
        text = " ".join(message.get("text", "") for message in reply.json())
        assert "2026111000001" in text and "T恤" in text, text
        # The printed shop demo page embeds the widget from the bot server.
        assert f"http://127.0.0.1:{shop_port}/" in output
        page = httpx.get(f"http://127.0.0.1:{shop_port}/", timeout=10)
        assert page.status_code == 200
        assert f'src="http://127.0.0.1:{rasa_port}/webhooks/shop/widget.js"' in page.text
        # The IM worker runs and the IM webhook is printed and served.
        assert f"http://127.0.0.1:{rasa_port}/webhooks/im/webhook" in output
        health = httpx.get(f"http://127.0.0.1:{im_port}/health", timeout=10).json()
        assert health == {"status": "ok", "pending": {"im_inbox": 0, "im_outbox": 0}}
        unsigned = httpx.post(f"http://127.0.0.1:{rasa_port}/webhooks/im/webhook", json={})
        assert unsigned.status_code == 401
        assert "run-test-im-secret" not in output
        # The demo database and the development secret live in the var dir.
        assert (tmp_path / "shopbot.sqlite3").is_file()
        assert (tmp_path / "dev_jwt_secret").is_file()
    assert_ports_closed((rasa_port, action_port, shop_port, im_port))
