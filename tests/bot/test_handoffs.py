"""Tests of bot/handoffs.py: recording, the queue, release, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, List, Optional

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import handoffs
from bot.db.models import Handoff
from bot.db.session import session_scope
from bot.handoffs import (
    MAX_BUYER_SAID,
    HandoffView,
    get_handoff,
    is_handed_off,
    open_handoffs,
    record_handoff,
    release_handoff,
)
from bot.messages import MAX_MESSAGE_LENGTH
from bot.settings import Settings
from tests.bot.db_helpers import settings_for

SUMMARY = {
    "order": {"order_id": "2026111000001", "product": "纯棉T恤", "status": "completed"},
    "decision": {"route_name": "七天无理由退货", "window_end": "2026-12-01", "days_left": 7},
    "evidence": "未上传",
    "buyer_said": ["衣服太大了", "我要找人工"],
}


@pytest.fixture()
def settings(migrated_url: str, tmp_path: Path) -> Settings:
    return settings_for(migrated_url, tmp_path)


def record(settings: Settings, conversation: str = "web-1", **changes: Any) -> HandoffView:
    fields: dict[str, Any] = {
        "conversation_id": conversation,
        "channel": "shop",
        "subject": "buyer_001",
        "role": "buyer",
        "reason": "request_human",
        "order_id": "2026111000001",
        "problem": "size_issue",
        "summary": SUMMARY,
    }
    fields.update(changes)
    return record_handoff(settings, **fields)


def test_a_recorded_handoff_is_open_with_its_case(settings: Settings) -> None:
    view = record(settings)
    assert view.status == "open"
    assert (view.conversation_id, view.channel, view.subject, view.role) == (
        "web-1",
        "shop",
        "buyer_001",
        "buyer",
    )
    assert (view.reason, view.order_id, view.problem) == (
        "request_human",
        "2026111000001",
        "size_issue",
    )
    assert view.summary == SUMMARY
    assert view.created_at.tzinfo is not None
    # The pinned day, the real time of day.
    assert view.created_at.astimezone(timezone.utc).date() in (
        date(2026, 11, 23),
        date(2026, 11, 24),
    )
    assert view.released_at is None and view.released_by is None
    assert get_handoff(settings, view.id) == view
    assert is_handed_off(settings, "web-1")
    assert not is_handed_off(settings, "web-2")


def test_a_second_record_while_open_updates_the_open_one(settings: Settings) -> None:
    first = record(settings)
    again = record(
        settings,
        reason="complaint",
        order_id=None,
        problem=None,
        summary={**SUMMARY, "buyer_said": ["太慢了，投诉"]},
    )
    assert again.id == first.id
    assert again.reason == "complaint"
    assert again.summary["buyer_said"] == ["太慢了，投诉"]
    # Not given: the order and problem already known are kept.
    assert (again.order_id, again.problem) == ("2026111000001", "size_issue")
    assert again.created_at == first.created_at
    assert [h.id for h in open_handoffs(settings)] == [first.id]


def test_after_release_a_new_handoff_opens_a_new_case(settings: Settings) -> None:
    first = record(settings)
    released = release_handoff(settings, first.id, "agent_7")
    assert released is not None and released.status == "released"
    assert released.released_by == "agent_7" and released.released_at is not None
    assert not is_handed_off(settings, "web-1")
    second = record(settings, reason="fallback")
    assert second.id != first.id and second.status == "open"
    assert [h.id for h in open_handoffs(settings)] == [second.id]
    assert get_handoff(settings, first.id) == released


def test_release_is_idempotent(settings: Settings) -> None:
    view = record(settings)
    first = release_handoff(settings, view.id, "agent_7")
    again = release_handoff(settings, view.id, "agent_8")
    assert first is not None and again == first
    assert again.released_by == "agent_7"


@pytest.mark.parametrize("handoff_id", [0, -1, 999, 2**31, 2**63])
def test_unknown_ids_are_none(settings: Settings, handoff_id: int) -> None:
    record(settings)
    assert get_handoff(settings, handoff_id) is None
    assert release_handoff(settings, handoff_id, "agent_7") is None


def test_the_queue_is_oldest_first_and_bounded(settings: Settings) -> None:
    ids = [record(settings, f"web-{n}").id for n in range(5)]
    release_handoff(settings, ids[1], "agent_7")
    assert [h.id for h in open_handoffs(settings)] == [ids[0], ids[2], ids[3], ids[4]]
    assert [h.id for h in open_handoffs(settings, limit=2)] == [ids[0], ids[2]]
    assert len(open_handoffs(settings, limit=0)) == 1  # at least one


def test_the_queue_order_follows_creation_time_not_ids(settings: Settings) -> None:
    late = record(settings, "web-late")
    early = record(settings, "web-early")
    with session_scope(settings.db_url) as session:
        row = session.get(Handoff, early.id)
        assert row is not None
        row.created_at = datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert [h.id for h in open_handoffs(settings)] == [early.id, late.id]


def test_the_summary_is_plain_json_with_bounded_buyer_texts(settings: Settings) -> None:
    said = [f"第{n}句" for n in range(MAX_BUYER_SAID + 5)] + ["x" * 5000 + "我要退货"]
    view = record(
        settings,
        summary={
            "buyer_said": said,
            "price": Decimal("129.00"),
            "day": date(2026, 12, 1),
            "note": "\x00控制字符",
        },
    )
    stored = get_handoff(settings, view.id)
    assert stored is not None
    assert stored.summary["price"] == "129.00" and stored.summary["day"] == "2026-12-01"
    texts = stored.summary["buyer_said"]
    assert len(texts) == MAX_BUYER_SAID
    assert texts[-1].endswith("我要退货") and len(texts[-1]) == MAX_MESSAGE_LENGTH
    assert texts[0] == f"第{len(said) - MAX_BUYER_SAID}句"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"channel": "sms"}, "channel"),
        ({"reason": "bored"}, "reason"),
        ({"conversation_id": ""}, "conversation_id"),
        ({"subject": "s" * 129}, "subject"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_stored(
    settings: Settings, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        record(settings, **changes)
    assert open_handoffs(settings) == []


def test_the_database_itself_refuses_a_second_open_handoff(settings: Settings) -> None:
    view = record(settings)
    with pytest.raises(IntegrityError):
        with session_scope(settings.db_url) as session:
            row = session.get(Handoff, view.id)
            assert row is not None
            session.add(
                Handoff(
                    conversation_id=row.conversation_id,
                    channel="shop",
                    subject="buyer_001",
                    role="buyer",
                    reason="complaint",
                    status="open",
                    summary={},
                    created_at=row.created_at,
                    updated_at=row.created_at,
                )
            )
    # Released ones do not count: many may exist beside the open one.
    release_handoff(settings, view.id, "agent_7")
    record(settings)
    release_handoff(settings, record(settings).id, "agent_7")
    with session_scope(settings.db_url) as session:
        assert len(session.scalars(select(Handoff)).all()) == 2


def test_two_concurrent_recorders_share_one_open_handoff(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Both callers see "no open handoff" before either inserts: only the
    # database's partial unique index can stop the second insert.
    barrier = threading.Barrier(2, timeout=30)
    real_find = handoffs.find_open
    calls = {"n": 0}
    lock = threading.Lock()

    def find_after_both_read(session: Session, conversation_id: str) -> Optional[Handoff]:
        found = real_find(session, conversation_id)
        with lock:
            calls["n"] += 1
            first_round = calls["n"] <= 2
        if first_round:
            barrier.wait()
        return found

    monkeypatch.setattr(handoffs, "find_open", find_after_both_read)
    caplog.set_level(logging.INFO, logger="bot.handoffs")
    results: List[HandoffView] = []
    errors: List[BaseException] = []

    def recorder(reason: str) -> None:
        try:
            results.append(record(settings, reason=reason))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=recorder, args=(r,)) for r in ("complaint", "fallback")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(results) == 2 and results[0].id == results[1].id
    # The loser learnt it from the unique index, then updated the winner's row.
    assert any("opened concurrently" in r.getMessage() for r in caplog.records)
    with session_scope(settings.db_url) as session:
        rows = session.scalars(select(Handoff)).all()
        assert len(rows) == 1 and rows[0].status == "open"
        assert rows[0].reason in ("complaint", "fallback")


def test_nothing_but_ids_and_reasons_is_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.handoffs")
    view = record(settings, summary={"buyer_said": ["我的手机号13800000000"]})
    release_handoff(settings, view.id, "agent_7")
    assert "13800000000" not in caplog.text
