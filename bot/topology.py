"""The production topology on one machine (``make run-prod``, the topology tests).

::

    buyers, IM platform ──► nginx :port ──► rasa-0 … rasa-N-1 ──► nginx :action_port
    agents (assistant)  ──┘                     │                    └► actions-0 … M-1
                                                ├─ PostgreSQL: tracker store      │
                                                ├─ Redis: lock store              │
                                                └─ RabbitMQ: events ──► consumer  │
                                      PostgreSQL: orders ◄────────────────────────┘

Every Rasa process reads ``endpoints.prod.yml``: they share the tracker store,
the lock store and the event broker, so any of them can take any message
(Rasa's deployment model: stateless servers, shared stores). nginx from
Debian's packages is the one address in front of them, and the action
endpoint the Rasa processes call. The IM worker, the agent assistant, the
event consumer (``python -m bot.event_consumer``) and the demo shop page run
once each, as ``make run`` runs them.

:class:`Topology` starts it on this machine's services (PostgreSQL, Redis,
RabbitMQ; the ``SHOPBOT_*`` variables of :data:`PRODUCTION_DEFAULTS` say
where). The same topology on several machines is ``docker-compose.yml``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from sqlalchemy import URL, Engine, create_engine, make_url, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from bot.devtools import BOT_PYTHON, DEMO_ORDERS, RASA_PYTHON, ServerProcesses, free_port
from bot.settings import PROJECT_ROOT, RabbitMqSettings, load_settings

_RABBITMQ = RabbitMqSettings()

#: The production profile's variables and their defaults: this machine's
#: services (README, "Production"). Secrets have no default but the local
#: services' own (RabbitMQ's guest account).
PRODUCTION_DEFAULTS: Dict[str, str] = {
    "SHOPBOT_TRACKER_DB_HOST": "127.0.0.1",
    "SHOPBOT_TRACKER_DB_PORT": "5432",
    "SHOPBOT_TRACKER_DB_NAME": "shopbot_tracker",
    "SHOPBOT_TRACKER_DB_USER": "postgres",
    "SHOPBOT_TRACKER_DB_PASSWORD": "",
    "SHOPBOT_REDIS_HOST": "127.0.0.1",
    "SHOPBOT_REDIS_PORT": "6379",
    "SHOPBOT_REDIS_DB": "0",
    "SHOPBOT_REDIS_PASSWORD": "",
    # RabbitMQ: the event consumer's own defaults (bot.settings).
    "SHOPBOT_RABBITMQ_HOST": _RABBITMQ.host,
    "SHOPBOT_RABBITMQ_PORT": str(_RABBITMQ.port),
    "SHOPBOT_RABBITMQ_USER": _RABBITMQ.user,
    "SHOPBOT_RABBITMQ_PASSWORD": _RABBITMQ.password,
    "SHOPBOT_EVENTS_QUEUE": _RABBITMQ.queue,
}

#: The order database of ``make run-prod`` when ``SHOPBOT_DB_URL`` is unset.
DEFAULT_PROD_DB_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/shopbot"

#: Debian's nginx (package nginx-light).
NGINX = Path("/usr/sbin/nginx")

#: The endpoints file of every Rasa process of the topology.
PROD_ENDPOINTS = PROJECT_ROOT / "endpoints.prod.yml"

#: nginx answers this path itself (its health, for the start-up wait).
NGINX_HEALTH_PATH = "/lb/health"

#: Seconds nginx keeps an idle upstream connection: below Sanic's keep-alive
#: (5 s), so nginx never reuses a connection the server is closing.
UPSTREAM_KEEPALIVE_S = 4


def production_environment(env: Mapping[str, str]) -> Dict[str, str]:
    """Return ``env`` with every production variable set (the defaults where missing).

    Rasa's ``${VAR}`` substitution fails on an unset variable, so the Rasa
    processes get every one of them.
    """
    return {**PRODUCTION_DEFAULTS, **env}


def tracker_db_url(env: Mapping[str, str]) -> str:
    """Return the SQLAlchemy URL of Rasa's tracker store as ``env`` configures it."""
    values = production_environment(env)
    return URL.create(
        "postgresql+psycopg",
        username=values["SHOPBOT_TRACKER_DB_USER"],
        password=values["SHOPBOT_TRACKER_DB_PASSWORD"] or None,
        host=values["SHOPBOT_TRACKER_DB_HOST"],
        port=int(values["SHOPBOT_TRACKER_DB_PORT"]),
        database=values["SHOPBOT_TRACKER_DB_NAME"],
    ).render_as_string(hide_password=False)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _admin_engine(target: URL) -> Engine:
    """An engine on the ``postgres`` database of ``target``'s server, in autocommit."""
    return create_engine(
        target.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )


def ensure_database(url: str) -> bool:
    """Create the PostgreSQL database of ``url`` if it does not exist.

    Connects to the server's ``postgres`` database with the URL's account.

    Returns:
        True when it was created now; False when it existed (or ``url`` is no
        PostgreSQL URL: SQLite files are created by the engine).
    """
    target = make_url(url)
    if target.get_backend_name() != "postgresql" or not target.database:
        return False
    admin = _admin_engine(target)
    try:
        with admin.connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).first()
            if found is not None:
                return False
            try:
                connection.exec_driver_sql(f"CREATE DATABASE {_quoted(target.database)}")
            except ProgrammingError:  # created by another process meanwhile
                return False
            return True
    finally:
        admin.dispose()


def drop_database(url: str) -> None:
    """Drop the PostgreSQL database of ``url`` (its connections closed), if it exists."""
    target = make_url(url)
    admin = _admin_engine(target)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f"DROP DATABASE IF EXISTS {_quoted(target.database or '')} WITH (FORCE)"
            )
    finally:
        admin.dispose()


def prepare_databases(env: Mapping[str, str], demo: bool = False) -> None:
    """Create the order and tracker databases if missing, migrate, import the demo orders.

    The order database (``SHOPBOT_DB_URL``, when PostgreSQL) and the tracker
    store's database are created on their servers if missing; the order
    database's schema is upgraded to the newest revision (Alembic; safe from
    several processes at once). Rasa creates its tracker tables itself.

    Args:
        env: The configuration (``SHOPBOT_DB_URL``, ``SHOPBOT_TRACKER_DB_*``).
        demo: Also import ``data/demo/orders.yaml`` (idempotent).
    """
    from bot.db.migrate import upgrade
    from bot.db.session import dispose_engines, session_scope
    from bot.importer import import_file

    db_url = load_settings(env).db_url
    ensure_database(db_url)
    ensure_database(tracker_db_url(env))
    upgrade(db_url)
    if demo:
        with session_scope(db_url) as session:
            import_file(DEMO_ORDERS, session)
    dispose_engines()


def database_servers(env: Mapping[str, str]) -> Dict[str, Tuple[str, int]]:
    """Return the PostgreSQL servers of the configuration: the tracker store's, the orders'."""
    values = production_environment(env)
    servers = {
        "PostgreSQL (tracker store)": (
            values["SHOPBOT_TRACKER_DB_HOST"],
            int(values["SHOPBOT_TRACKER_DB_PORT"]),
        )
    }
    db_url = make_url(values.get("SHOPBOT_DB_URL") or "sqlite://")
    if db_url.get_backend_name() == "postgresql":
        servers["PostgreSQL (orders)"] = (db_url.host or "127.0.0.1", db_url.port or 5432)
    return servers


def check_reachable(services: Mapping[str, Tuple[str, int]], timeout_s: float = 3.0) -> None:
    """Check that each service accepts TCP connections.

    Args:
        services: Name → (host, port), as ``{"Redis": ("127.0.0.1", 6379)}``.
        timeout_s: How long to try each.

    Raises:
        RuntimeError: Naming every service that did not answer.
    """
    down = []
    for name, (host, port) in services.items():
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                pass
        except OSError as exc:
            down.append(f"{name} at {host}:{port} ({exc.strerror or exc})")
    if down:
        raise RuntimeError("not reachable: " + "; ".join(down))


def _upstream(name: str, servers: Sequence[str]) -> str:
    lines = "".join(f"        server {server};\n" for server in servers)
    return (
        f"    upstream {name} {{\n{lines}"
        f"        keepalive 16;\n        keepalive_timeout {UPSTREAM_KEEPALIVE_S}s;\n    }}\n"
    )


#: How nginx passes a request on (both upstreams).
_PROXY = """            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 120s;
            # A request goes to the next server only when it could not be
            # sent (a stopped process): a message is never processed twice.
            proxy_next_upstream error timeout;
"""


def nginx_config(
    listen: str,
    rasa_servers: Sequence[str],
    action_listen: str,
    action_servers: Sequence[str],
    folder: Optional[Path] = None,
) -> str:
    """Return nginx's configuration of the topology (run it with ``-g "daemon off;"``).

    Args:
        listen: The public address (``[host:]port``): every route of the Rasa
            servers (both channels' webhooks, the history route, the widget,
            the HTTP API) goes to the ``rasa`` upstream.
        rasa_servers: The Rasa processes (``host:port`` each; a name with
            several addresses, as a Docker service's replicas, is each of them).
        action_listen: The address of the action endpoint (``[host:]port``).
        action_servers: The action servers (``host:port`` each).
        folder: nginx's own folder (its ``-p`` prefix) on this machine: pid
            file, logs and temporary folders go there, so nginx needs no root
            and leaves nothing in ``/var``. None: in a container (logs to
            its output, the image's own paths).
    """
    if folder is None:
        files = "error_log stderr warn;\n"
        http_files = "    access_log /dev/stdout;\n"
    else:
        files = f"pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
        http_files = f"    access_log {folder / 'access.log'};\n" + "".join(
            f"    {kind}_temp_path {folder / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
    return (
        "# nginx in front of shopbot's Rasa and action servers (generated by bot/topology.py).\n"
        "worker_processes 1;\n"
        f"{files}"
        "events {\n    worker_connections 1024;\n}\n"
        "http {\n"
        f"{http_files}"
        "    # Request bodies and answers stay in memory: no temporary files.\n"
        "    client_max_body_size 2m;\n"
        "    client_body_buffer_size 2m;\n"
        "    proxy_max_temp_file_size 0;\n"
        + _upstream("rasa", rasa_servers)
        + _upstream("actions", action_servers)
        + "    server {\n"
        f"        listen {listen};\n"
        f"        location = {NGINX_HEALTH_PATH} {{\n"
        "            access_log off;\n"
        '            return 200 "ok\\n";\n'
        "        }\n"
        "        location / {\n"
        "            proxy_pass http://rasa;\n"
        f"{_PROXY}"
        "        }\n"
        "    }\n"
        "    server {\n"
        f"        listen {action_listen};\n"
        "        location / {\n"
        "            proxy_pass http://actions;\n"
        f"{_PROXY}"
        "        }\n"
        "    }\n"
        "}\n"
    )


def compose_nginx_config() -> str:
    """Return ``deploy/nginx.conf``, nginx's configuration in docker-compose.yml.

    The public port 80 and the action endpoint 5055 in front of the replicas
    of the ``rasa`` and ``actions`` services (nginx finds every replica's
    address when it starts; restart it after scaling).
    """
    header = "# deploy/nginx.conf: python -m bot.topology nginx-conf > deploy/nginx.conf\n"
    return header + nginx_config("80", ["rasa:5005"], "5055", ["actions:5055"])


def _ports(count: int) -> List[int]:
    return [free_port() for _ in range(count)]


@dataclass
class Topology(ServerProcesses):
    """The whole production topology on this machine, started on free ports.

    Servers (names for :meth:`start_process` / :meth:`stop_process`):
    ``rasa-0`` … ``rasa-{rasa_procs-1}``, ``actions-0`` …
    ``actions-{action_procs-1}``, ``nginx``; and, when configured, ``im`` (the
    IM worker: ``SHOPBOT_IM_SECRET`` and ``SHOPBOT_IM_CALLBACK_URL`` set),
    ``assist`` (the agent assistant: ``SHOPBOT_AGENT_TOKEN`` set), ``consumer``
    (``python -m bot.event_consumer``: ``event_consumer``) and ``shop`` (the
    demo shop page: ``shop_page``).

    The servers get the process environment, then ``env``, then the
    production defaults for what is still missing; the topology sets
    ``SHOPBOT_ACTION_URL`` (its nginx), ``SHOPBOT_RASA_URL`` (its public
    address) and ``SHOPBOT_IM_WORKER_URL`` itself. With ``SHOPBOT_RASA_TOKEN``
    set, Rasa's HTTP API is on, protected by that token.

    Args:
        model: The trained model: a file, or a folder (Rasa takes its newest).
        workdir: Folder for the logs and nginx's configuration and files.
        env: The servers' environment (database URLs, secrets, ...).
        rasa_procs: How many Rasa server processes.
        action_procs: How many action server processes.
        event_consumer: Whether to run ``python -m bot.event_consumer``.
        shop_page: Whether to serve the demo shop page (``bot.demo_shop``).
        host: The interface of the public address.
        port: The public port (nginx).
        action_port: nginx's port in front of the action servers (127.0.0.1).
    """

    model: Path
    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    rasa_procs: int = 2
    action_procs: int = 2
    event_consumer: bool = False
    shop_page: bool = False
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    action_port: int = field(default_factory=free_port)
    rasa_ports: List[int] = field(default_factory=list)
    action_ports: List[int] = field(default_factory=list)
    im_port: int = field(default_factory=free_port)
    assist_port: int = field(default_factory=free_port)
    shop_port: int = field(default_factory=free_port)
    endpoints: Path = PROD_ENDPOINTS
    processes: Dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    startup_seconds: Dict[str, float] = field(default_factory=dict)
    ready_at: Dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rasa_procs < 1 or self.action_procs < 1:
            raise ValueError("the topology needs at least one Rasa and one action server")
        self.rasa_ports = self.rasa_ports or _ports(self.rasa_procs)
        self.action_ports = self.action_ports or _ports(self.action_procs)
        if (len(self.rasa_ports), len(self.action_ports)) != (self.rasa_procs, self.action_procs):
            raise ValueError("one port per Rasa and per action server")

    # -- addresses ---------------------------------------------------------

    @property
    def _local_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104

    @property
    def url(self) -> str:
        """The one public address (nginx): webhooks, history, widget, HTTP API."""
        return f"http://{self._local_host}:{self.port}"

    @property
    def rasa_urls(self) -> List[str]:
        """Each Rasa process's own address, in the order of the names ``rasa-0``, ..."""
        return [f"http://127.0.0.1:{port}" for port in self.rasa_ports]

    @property
    def action_urls(self) -> List[str]:
        """Each action server's own address (``actions-0``, ...)."""
        return [f"http://127.0.0.1:{port}" for port in self.action_ports]

    @property
    def action_endpoint(self) -> str:
        """The action endpoint the Rasa processes call (nginx; ``SHOPBOT_ACTION_URL``)."""
        return f"http://127.0.0.1:{self.action_port}/webhook"

    @property
    def assist_url(self) -> str:
        """The agent assistant's address."""
        return f"http://127.0.0.1:{self.assist_port}"

    @property
    def shop_url(self) -> str:
        """The demo shop page's address."""
        return f"http://127.0.0.1:{self.shop_port}/"

    @property
    def im_worker_url(self) -> str:
        """The IM worker's address."""
        return f"http://127.0.0.1:{self.im_port}"

    @property
    def nginx_dir(self) -> Path:
        """nginx's folder: configuration, pid file, logs."""
        return self.workdir / "nginx"

    @property
    def nginx_conf(self) -> Path:
        """nginx's generated configuration file."""
        return self.nginx_dir / "nginx.conf"

    # -- configuration -----------------------------------------------------

    def environment(self) -> Dict[str, str]:
        """Return the servers' environment (see the class's description)."""
        merged = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **self.env}
        return {
            **production_environment(merged),
            "SHOPBOT_ACTION_URL": self.action_endpoint,
            "SHOPBOT_RASA_URL": self.url,
            "SHOPBOT_IM_WORKER_URL": self.im_worker_url,
            # The action servers (Sanic) listen on this interface only.
            "SANIC_HOST": "127.0.0.1",
            # No telemetry or crash reports leave the machine.
            "RASA_TELEMETRY_ENABLED": "false",
        }

    def _environment(self) -> Dict[str, str]:
        return self.environment()

    @property
    def im_enabled(self) -> bool:
        """Whether the IM channel is configured (then the IM worker runs)."""
        env = self.environment()
        return bool(env.get("SHOPBOT_IM_SECRET") and env.get("SHOPBOT_IM_CALLBACK_URL"))

    @property
    def assist_enabled(self) -> bool:
        """Whether the agent assistant runs (``SHOPBOT_AGENT_TOKEN`` set)."""
        return bool(self.environment().get("SHOPBOT_AGENT_TOKEN"))

    @property
    def names(self) -> List[str]:
        """Every server the topology runs, in start order."""
        names = [f"actions-{i}" for i in range(self.action_procs)]
        names += [f"rasa-{i}" for i in range(self.rasa_procs)]
        names.append("nginx")
        names += ["im"] if self.im_enabled else []
        names += ["assist"] if self.assist_enabled else []
        names += ["consumer"] if self.event_consumer else []
        names += ["shop"] if self.shop_page else []
        return names

    def write_nginx_config(self) -> Path:
        """Write nginx's configuration (and its folders); return its path."""
        self.nginx_dir.mkdir(parents=True, exist_ok=True)
        self.nginx_conf.write_text(
            nginx_config(
                f"{self.host}:{self.port}",
                [f"127.0.0.1:{port}" for port in self.rasa_ports],
                f"127.0.0.1:{self.action_port}",
                [f"127.0.0.1:{port}" for port in self.action_ports],
                folder=self.nginx_dir,
            )
        )
        return self.nginx_conf

    def _server(self, name: str) -> Tuple[List[str], Optional[str], float]:
        """Return how to start server ``name``: its command, health URL and start-up limit (s).

        Raises:
            KeyError: The topology has no server called ``name``.
        """
        kind, _, index = name.partition("-")
        if kind == "rasa" and index.isdigit() and int(index) < self.rasa_procs:
            port = self.rasa_ports[int(index)]
            token = self.environment().get("SHOPBOT_RASA_TOKEN")
            return (
                [
                    *(str(RASA_PYTHON), "-m", "shopbot_rasa.server", "run"),
                    *("--model", str(self.model), "--credentials", "credentials.yml"),
                    *("--endpoints", str(self.endpoints)),
                    *("--port", str(port), "--interface", "127.0.0.1"),
                    *(["--enable-api", f"--auth-token={token}"] if token else []),
                ],
                f"http://127.0.0.1:{port}/webhooks/shop/",
                300,
            )
        if kind == "actions" and index.isdigit() and int(index) < self.action_procs:
            port = self.action_ports[int(index)]
            return (
                [str(BOT_PYTHON), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
                f"http://127.0.0.1:{port}/health",
                120,
            )
        plain = self._plain_server(name)
        if plain is None:
            raise KeyError(f"the topology has no server called {name!r}")
        return plain

    def _plain_server(self, name: str) -> Optional[Tuple[List[str], Optional[str], float]]:
        python = str(BOT_PYTHON)
        if name == "nginx":
            folder = str(self.nginx_dir)
            return (
                [
                    *(str(NGINX), "-p", folder + "/", "-c", str(self.nginx_conf)),
                    *("-e", str(self.nginx_dir / "error.log"), "-g", "daemon off;"),
                ],
                f"http://{self._local_host}:{self.port}{NGINX_HEALTH_PATH}",
                30,
            )
        if name == "im":
            return (
                [python, "-m", "bot.im_worker", "--port", str(self.im_port)],
                f"{self.im_worker_url}/health",
                60,
            )
        if name == "assist":
            return (
                [python, "-m", "bot.assist.app", "--port", str(self.assist_port)],
                f"{self.assist_url}/assist/health",
                60,
            )
        if name == "consumer":
            return [python, "-m", "bot.event_consumer"], None, 60
        if name == "shop":
            return (
                [
                    *(python, "-m", "bot.demo_shop", "--port", str(self.shop_port)),
                    *("--bot-url", self.url),
                    *("--evidence-url", f"{self.assist_url}/evidence/upload"),
                ],
                self.shop_url,
                30,
            )
        return None

    # -- life cycle --------------------------------------------------------

    def check_services(self) -> None:
        """Check that PostgreSQL, Redis and RabbitMQ accept connections.

        Raises:
            RuntimeError: Naming the services that did not answer.
        """
        env = self.environment()
        check_reachable(
            {
                **database_servers(env),
                "Redis (lock store)": (env["SHOPBOT_REDIS_HOST"], int(env["SHOPBOT_REDIS_PORT"])),
                "RabbitMQ (event broker)": (
                    env["SHOPBOT_RABBITMQ_HOST"],
                    int(env["SHOPBOT_RABBITMQ_PORT"]),
                ),
            }
        )

    def prepare(self, demo: bool = False) -> Topology:
        """Get the databases ready: create them if missing, migrate, import the demo orders.

        Checks the services first, then runs ``python -m bot.topology
        prepare`` (:func:`prepare_databases`) with the servers' environment.

        Args:
            demo: Also import ``data/demo/orders.yaml`` (idempotent).

        Raises:
            RuntimeError: A service is not reachable.
            subprocess.CalledProcessError: The migration or the import failed.
        """
        self.check_services()
        subprocess.run(
            [str(BOT_PYTHON), "-m", "bot.topology", "prepare", *(["--demo"] if demo else [])],
            cwd=PROJECT_ROOT,
            env=self.environment(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return self

    def start(self) -> Topology:
        """Start every server; return when each answers.

        The action servers, the Rasa processes and nginx start at once, then
        the IM worker, the assistant, the event consumer and the shop page
        (those configured).

        Raises:
            RuntimeError: A server exited or did not answer in time (every
                server is then stopped); the message holds its log's end.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.write_nginx_config()
        core = [n for n in self.names if n.startswith(("actions-", "rasa-")) or n == "nginx"]
        self.start_processes(core)
        self.start_processes([n for n in self.names if n not in core])
        return self


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m bot.topology prepare [--demo] [--wait SECONDS] | nginx-conf``.

    ``prepare`` is the one-off step before the servers start (``make
    run-prod`` runs it, and so does the ``migrate`` service of
    docker-compose.yml): it waits until the PostgreSQL servers accept
    connections, then runs :func:`prepare_databases`. ``nginx-conf`` prints
    ``deploy/nginx.conf`` (:func:`compose_nginx_config`).
    """
    parser = argparse.ArgumentParser(prog="python -m bot.topology", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    prepare = sub.add_parser("prepare", help="create the databases if missing, migrate")
    prepare.add_argument("--demo", action="store_true", help="import the demo orders")
    prepare.add_argument(
        "--wait", type=float, default=0, help="seconds to wait for PostgreSQL to come up"
    )
    sub.add_parser("nginx-conf", help="print deploy/nginx.conf (docker-compose.yml's nginx)")
    args = parser.parse_args(argv)
    if args.command == "nginx-conf":
        sys.stdout.write(compose_nginx_config())
        return 0
    env = dict(os.environ)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            check_reachable(database_servers(env))
            break
        except RuntimeError as exc:
            if time.monotonic() >= deadline:
                print(f"bot.topology: {exc}", file=sys.stderr)
                return 1
            time.sleep(1)
    prepare_databases(env, demo=args.demo)
    print("databases ready")
    return 0


if __name__ == "__main__":  # pragma: no cover - the command line
    raise SystemExit(main())
