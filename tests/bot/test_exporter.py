"""Tests of bot/exporter.py: the export reads back as the same data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.db.migrate import upgrade
from bot.db.session import session_scope
from bot.exporter import export_data, write_export
from bot.importer import import_data, import_file
from tests.bot.db_helpers import DEMO_FILE, snapshot


def _export(url: str) -> dict[str, list[dict[str, object]]]:
    with session_scope(url) as session:
        return export_data(session)


def test_import_export_import_changes_nothing(demo_url: str) -> None:
    before = snapshot(demo_url)
    exported = _export(demo_url)
    with session_scope(demo_url) as session:
        report = import_data(exported, session, source="export")
    assert not report.changed and report.claim_events == 0
    assert snapshot(demo_url) == before


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_export_file_into_a_fresh_database_gives_the_same_export(
    demo_url: str, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"export{suffix}"
    with session_scope(demo_url) as session:
        write_export(session, path)
    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    upgrade(fresh)
    with session_scope(fresh) as session:
        import_file(path, session)
    assert _export(fresh) == _export(demo_url)


def test_export_uses_the_format_of_orders_md(demo_url: str) -> None:
    data = _export(demo_url)
    order = next(o for o in data["orders"] if o["order_id"] == "2026111000001")
    assert order["price"] == "79.00" and order["category"] == "general"
    assert order["delivered_at"] == "2026-11-13T23:30:00+08:00"  # China time, not shifted
    assert order["no_reason_return"] is True and "usage_term_days" not in order
    text = yaml.safe_load(write_export_text(demo_url))
    assert text["orders"][0]["order_id"] == data["orders"][0]["order_id"]
    assert isinstance(text["orders"][0]["order_id"], str)


def write_export_text(url: str) -> str:
    with session_scope(url) as session:
        return write_export(session, None)


def test_cli_export_to_stdout_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPBOT_DB_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    assert main(["db", "import", str(DEMO_FILE)]) == 0
    capsys.readouterr()
    assert main(["db", "export"]) == 0
    printed = capsys.readouterr().out
    assert main(["db", "export", str(tmp_path / "out.yaml")]) == 0
    assert (tmp_path / "out.yaml").read_text(encoding="utf-8") == printed
    assert main(["db", "export", str(tmp_path / "missing" / "out.yaml")]) == 1
    assert "cannot write" in capsys.readouterr().err
