"""docker-compose.yml and deploy/: the production topology for several machines.

The file is checked with ``docker compose config`` (Docker's v2 plugin), or
``docker-compose config`` (Debian's docker-compose) where the plugin is
missing: neither needs a running Docker engine. Without either the tests fail
(``scripts/debian.sh`` installs docker-compose).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import yaml

from bot.topology import PRODUCTION_DEFAULTS, compose_nginx_config

ROOT = Path(__file__).resolve().parents[2]

#: The secrets docker-compose.yml takes from the environment (test values).
SECRETS = {
    "SHOPBOT_DB_URL": "postgresql+psycopg://shopbot:pg-pass@postgres:5432/shopbot",
    "SHOPBOT_JWT_SECRET": "jwt-secret",
    "SHOPBOT_TRACKER_DB_PASSWORD": "pg-pass",
    "SHOPBOT_REDIS_PASSWORD": "redis-pass",
    "SHOPBOT_RABBITMQ_PASSWORD": "mq-pass",
    "SHOPBOT_RASA_TOKEN": "rasa-token",
    "SHOPBOT_AGENT_TOKEN": "agent-token",
}

SERVICES = {
    "postgres",
    "redis",
    "rabbitmq",
    "migrate",
    "rasa",
    "actions",
    "nginx",
    "assist",
    "event-consumer",
    "im-worker",
}


def compose_command() -> List[str]:
    """``docker compose`` when the v2 plugin is there, else ``docker-compose``."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.fail(
        "neither `docker compose` (Docker's v2 plugin) nor docker-compose is installed: "
        "run scripts/debian.sh as root (apt-get install docker-compose)"
    )


def compose_config(env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``compose --profile im config`` in the repository with exactly ``env``'s variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SHOPBOT_", "COMPOSE_"))}
    for name in ("RASA_PORT", "ASSIST_PORT"):
        clean.pop(name, None)
    return subprocess.run(
        [*compose_command(), "--profile", "im", "config"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def services() -> Dict[str, Any]:
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    config: Dict[str, Any] = yaml.safe_load(result.stdout)
    found: Dict[str, Any] = config["services"]
    return found


def published(service: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(published, target) port pairs, in either tool's spelling."""
    pairs = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            pairs.append((str(port.get("published")), str(port["target"])))
        else:
            outside, _, inside = str(port).rpartition(":")
            pairs.append((outside.rpartition(":")[2], inside))
    return pairs


def mounts(service: Dict[str, Any]) -> Dict[str, str]:
    """Target → source of the service's volumes, in either tool's spelling."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found[volume["target"]] = str(volume["source"])
        else:
            source, target = str(volume).split(":")[:2]
            found[target] = source
    return found


def replicas(service: Dict[str, Any]) -> int:
    return int(service.get("deploy", {}).get("replicas", 1))


def test_it_declares_the_production_topology(services: Dict[str, Any]) -> None:
    assert set(services) == SERVICES
    # Stateless Rasa and action servers, several of each, reached only through nginx.
    assert replicas(services["rasa"]) == 2 and replicas(services["actions"]) == 2
    assert published(services["rasa"]) == published(services["actions"]) == []
    assert published(services["nginx"]) == [("5005", "80")]
    assert published(services["assist"]) == [("8090", "8090")]
    assert mounts(services["nginx"])["/etc/nginx/nginx.conf"] == str(ROOT / "deploy/nginx.conf")
    assert mounts(services["rasa"])["/app/models"] == str(ROOT / "models")
    rasa_env = services["rasa"]["environment"]
    assert rasa_env["SHOPBOT_ACTION_URL"] == "http://nginx:5055/webhook"
    assert rasa_env["SHOPBOT_TRACKER_DB_HOST"] == "postgres"
    assert rasa_env["SHOPBOT_REDIS_HOST"] == "redis"
    assert rasa_env["SHOPBOT_RABBITMQ_HOST"] == "rabbitmq"
    # The databases are ready before any server starts.
    for name in ("rasa", "actions", "assist", "event-consumer", "im-worker"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
    assert services["migrate"]["command"][:4] == ["python", "-m", "bot.topology", "prepare"]
    assert services["event-consumer"]["command"] == ["python", "-m", "bot.event_consumer"]


def test_every_variable_of_the_production_endpoints_reaches_rasa(
    services: Dict[str, Any],
) -> None:
    """Rasa fails on an unset ${VAR} of endpoints.prod.yml."""
    endpoints = (ROOT / "endpoints.prod.yml").read_text()
    used = set(re.findall(r"\$\{(SHOPBOT_[A-Z_]+)\}", endpoints))
    assert used <= set(services["rasa"]["environment"])
    assert set(PRODUCTION_DEFAULTS) <= set(services["rasa"]["environment"])
    assert "--endpoints endpoints.prod.yml" in (ROOT / "deploy/Dockerfile.rasa").read_text()


def test_the_secrets_come_from_the_environment_only() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"(:?[-?])?", compose)
        assert uses and set(uses) == {":?"}, f"{name} must be ${{{name}:?...}}, no default"
    # Each secret left out stops the configuration, naming it.
    for name in SECRETS:
        missing = compose_config({k: v for k, v in SECRETS.items() if k != name})
        assert missing.returncode != 0, name
        assert name in missing.stderr, missing.stderr


def test_nginx_conf_is_the_generated_one() -> None:
    """deploy/nginx.conf is `python -m bot.topology nginx-conf` (the single-machine generator)."""
    assert (ROOT / "deploy/nginx.conf").read_text() == compose_nginx_config()


@pytest.mark.parametrize("dockerfile", ["deploy/Dockerfile.rasa", "deploy/Dockerfile.actions"])
def test_the_images_copy_files_that_exist(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    sources = [
        source
        for line in re.findall(r"^COPY (.+)$", text, re.MULTILINE)
        for source in line.split()[:-1]
    ]
    assert sources
    assert [source for source in sources if not (ROOT / source).exists()] == []
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert [source for source in sources if source.split("/")[0] in ignored] == []
