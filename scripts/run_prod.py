"""`make run-prod`: the production topology on this machine, in the foreground.

RASA_PROCS Rasa server processes and ACTION_PROCS action servers behind
Debian's nginx (one public address), on this machine's PostgreSQL (order
database and Rasa's tracker store), Redis (Rasa's lock store) and RabbitMQ
(Rasa's event broker), with the IM worker (when SHOPBOT_IM_* are set), the
agent assistant, the event consumer and the demo shop page: see
``bot/topology.py`` and README, "Production". The databases are created when
missing and migrated; ``--demo`` imports the demo orders and pins the demo
day. Every ``SHOPBOT_*`` variable of the README applies; secrets come only
from the environment (local development ones otherwise, as ``make run``).
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Dict, List, Optional, Sequence

from sqlalchemy import make_url

from bot.auth import mint_token
from bot.devtools import DEMO_TODAY
from bot.settings import PROJECT_ROOT, load_settings
from bot.topology import DEFAULT_PROD_DB_URL, Topology, production_environment, tracker_db_url


def _port(value: Optional[str], default: int) -> int:
    return int(value) if value else default


def parse_arguments(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line (defaults from the Makefile's variables)."""
    env = os.environ
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--model",
        type=Path,
        default=PROJECT_ROOT / "models" / "current.tar.gz",
        help="the trained model: a file, or a folder (Rasa serves its newest model)",
    )
    parser.add_argument("--rasa-procs", type=int, default=_port(env.get("RASA_PROCS"), 2))
    parser.add_argument("--action-procs", type=int, default=_port(env.get("ACTION_PROCS"), 2))
    parser.add_argument(
        "--port",
        type=int,
        default=_port(env.get("RASA_PORT"), 5005),
        help="the public address's port (nginx)",
    )
    parser.add_argument(
        "--action-port",
        type=int,
        default=_port(env.get("ACTION_PORT"), 5055),
        help="nginx's port in front of the action servers",
    )
    parser.add_argument("--im-port", type=int, default=_port(env.get("IM_PORT"), 5056))
    parser.add_argument("--assist-port", type=int, default=_port(env.get("ASSIST_PORT"), 8090))
    parser.add_argument("--shop-port", type=int, default=_port(env.get("SHOP_PORT"), 8080))
    parser.add_argument(
        "--demo",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="import the demo orders and pin the demo day (default: on)",
    )
    parser.add_argument(
        "--event-consumer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run python -m bot.event_consumer (default: when the module exists)",
    )
    return parser.parse_args(argv)


def server_environment(args: argparse.Namespace) -> Dict[str, str]:
    """Return the variables the topology adds to the process environment.

    The order database defaults to PostgreSQL here (``SHOPBOT_DB_URL`` wins);
    the Rasa API and agent tokens to the local development ones; the demo
    shop page is the browser origin the bot accepts.
    """
    env = dict(os.environ)
    extra: Dict[str, str] = {}
    if not env.get("SHOPBOT_DB_URL"):
        extra["SHOPBOT_DB_URL"] = DEFAULT_PROD_DB_URL
    if args.demo and not env.get("SHOPBOT_TODAY"):
        extra["SHOPBOT_TODAY"] = DEMO_TODAY
    settings = load_settings({**env, **extra})
    extra["SHOPBOT_RASA_TOKEN"] = settings.rasa_api_token()
    extra["SHOPBOT_AGENT_TOKEN"] = settings.agent_api_token()
    if not env.get("SHOPBOT_CORS_ORIGINS"):
        shop = args.shop_port
        extra["SHOPBOT_CORS_ORIGINS"] = f"http://127.0.0.1:{shop},http://localhost:{shop}"
    # Rasa's dependencies are chatty at import; keep the logs readable.
    extra.update(PYTHONWARNINGS="ignore", TF_CPP_MIN_LOG_LEVEL="3")
    return extra


def _hidden(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def addresses(topology: Topology, env: Dict[str, str], token: str) -> str:
    """Return what the operator needs: every address, store and log (no password)."""
    values = production_environment(env)
    rasa = ", ".join(f"rasa-{i} {url}" for i, url in enumerate(topology.rasa_urls))
    actions = ", ".join(f"actions-{i} {url}" for i, url in enumerate(topology.action_urls))
    redis = values["SHOPBOT_REDIS_HOST"], values["SHOPBOT_REDIS_PORT"], values["SHOPBOT_REDIS_DB"]
    broker = values["SHOPBOT_RABBITMQ_HOST"], values["SHOPBOT_RABBITMQ_PORT"]
    names = topology.names
    if "im" in names:
        im = f"{topology.url}/webhooks/im/webhook (worker {topology.im_worker_url})"
    else:
        im = "off (set SHOPBOT_IM_SECRET and SHOPBOT_IM_CALLBACK_URL)"
    agent_token = env.get("SHOPBOT_AGENT_TOKEN", "")
    lines: List[str] = [
        "",
        f"shopbot production topology is running: {topology.rasa_procs} Rasa processes, "
        f"{topology.action_procs} action servers behind nginx"
        + (f" (today pinned to {env['SHOPBOT_TODAY']})." if env.get("SHOPBOT_TODAY") else "."),
        f"  public address (nginx):  {topology.url}",
        f"    shop channel:          {topology.url}/webhooks/shop/webhook",
        f"    IM channel:            {im}",
        f"    Rasa HTTP API:         {topology.url}/status?token=... (SHOPBOT_RASA_TOKEN)",
        f"  Rasa processes:          {rasa}",
        f"  action endpoint (nginx): {topology.action_endpoint} -> {actions}",
        f"  order database:          {_hidden(env['SHOPBOT_DB_URL'])}",
        f"  tracker store:           {_hidden(tracker_db_url(env))}",
        f"  lock store:              redis://{redis[0]}:{redis[1]}/{redis[2]}",
        f"  event broker:            amqp://{broker[0]}:{broker[1]} "
        f"queue {values['SHOPBOT_EVENTS_QUEUE']}"
        + (" (event consumer running)" if "consumer" in names else ""),
    ]
    if "shop" in names:
        lines.append(f"  shop demo page with the chat widget:  {topology.shop_url}")
    if "assist" in names:
        lines += [
            "  agent console (the token after # stays in the browser):",
            f"    {topology.assist_url}/console/?conversation=demo-1&buyer=buyer_001"
            f"#token={agent_token}",
        ]
    lines += [
        f"  chat in the terminal:    make chat RASA_PORT={topology.port}",
        "  try it:",
        f"curl -s -X POST {topology.url}/webhooks/shop/webhook "
        "-H 'Content-Type: application/json' "
        f"-H 'Authorization: Bearer {token}' "
        '-d \'{"sender": "demo-1", "message": "我的订单2026111000001的衣服太大了"}\'',
        "",
        f"Logs: {topology.workdir}/*.log, nginx: {topology.nginx_dir}/. Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def _stop_on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Start the topology, print its addresses and wait for Ctrl-C; return an exit code."""
    args = parse_arguments(argv)
    model = args.model.resolve()
    if not model.exists():
        print(f"run_prod: no trained model at {args.model} (make train)", file=sys.stderr)
        return 1
    extra = server_environment(args)
    settings = load_settings({**os.environ, **extra})
    consumer = args.event_consumer
    if consumer is None:
        consumer = importlib.util.find_spec("bot.event_consumer") is not None
    topology = Topology(
        model=model,
        workdir=settings.var_dir / "prod",
        env=extra,
        rasa_procs=args.rasa_procs,
        action_procs=args.action_procs,
        event_consumer=consumer,
        shop_page=True,
        port=args.port,
        action_port=args.action_port,
        im_port=args.im_port,
        assist_port=args.assist_port,
        shop_port=args.shop_port,
    )
    # Ctrl-C, even when started with SIGINT ignored (in the background of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGHUP, _stop_on_sigterm)
    started = time.monotonic()
    try:
        print(
            "==> databases (created if missing, migrated" + (", demo orders)" if args.demo else ")")
        )
        topology.prepare(demo=args.demo)
        print(f"==> starting {', '.join(topology.names)} (logs in {topology.workdir})")
        topology.start()
        token = mint_token(settings.signing_secret(), "buyer_001", ttl_seconds=86400)
        print(addresses(topology, topology.environment(), token))
        print(f"(started in {time.monotonic() - started:.0f} s)", flush=True)
        while True:
            stopped = [n for n, p in topology.processes.items() if p.poll() is not None]
            if stopped:
                print(f"{', '.join(stopped)} stopped; see {topology.workdir}/", file=sys.stderr)
                return 1
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"run_prod: {exc}", file=sys.stderr)
        return 1
    finally:
        topology.stop()
        print("shopbot stopped.")


if __name__ == "__main__":
    raise SystemExit(main())
