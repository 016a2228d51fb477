"""Tests of bot/cli.py: the shopbot command."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.auth import verify_token
from bot.cli import main


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPBOT_JWT_SECRET", "cli-secret")
    monkeypatch.setenv("SHOPBOT_DB_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    return tmp_path


def test_token_prints_a_verifiable_token(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "buyer_001", "--role", "seller", "--ttl", "120"]) == 0
    token = capsys.readouterr().out.strip()
    identity = verify_token("cli-secret", token)
    assert (identity.subject, identity.role) == ("buyer_001", "seller")


def test_token_with_bad_ttl_fails_cleanly(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "buyer_001", "--ttl", "0"]) == 1
    assert "ttl" in capsys.readouterr().err


def test_import_demo_then_reimport_is_idempotent(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = Path(__file__).resolve().parents[2] / "data" / "demo" / "orders.yaml"
    assert main(["db", "import", str(demo)]) == 0
    first = capsys.readouterr().out
    assert main(["db", "import", str(demo)]) == 0
    second = capsys.readouterr().out
    assert "inserted" in first
    assert " 0 inserted" in second and " 0 updated" in second


def test_import_of_a_missing_file_is_a_clear_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "import", str(env / "nope.yaml")]) == 1
    assert "nope.yaml" in capsys.readouterr().err


def test_dev_tokens_are_created_once_and_the_configured_ones_win(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOPBOT_AGENT_TOKEN", raising=False)
    monkeypatch.delenv("SHOPBOT_RASA_TOKEN", raising=False)
    assert main(["dev-token", "rasa"]) == 0
    rasa = capsys.readouterr().out.strip()
    assert main(["dev-token", "agent"]) == 0
    agent = capsys.readouterr().out.strip()
    assert len(rasa) >= 32 and len(agent) >= 32 and rasa != agent
    assert main(["dev-token", "agent"]) == 0
    assert capsys.readouterr().out.strip() == agent
    monkeypatch.setenv("SHOPBOT_AGENT_TOKEN", "configured-agent-token")
    assert main(["dev-token", "agent"]) == 0
    assert capsys.readouterr().out.strip() == "configured-agent-token"
