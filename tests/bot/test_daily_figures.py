"""Tests of bot/daily_figures.py: counting events into the figures, once each."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any, Dict, List

import pytest
from sqlalchemy import func, select

from bot.daily_figures import MAX_DAYS, figures, prune_receipts, record
from bot.db.models import EventReceipt
from bot.db.session import session_scope
from bot.event_counts import count
from tests.bot import rasa_events as ev

DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
DAY_S = 86400.0


def _record(url: str, event: Dict[str, Any], now: datetime = NOW) -> bool:
    counted = count(event)
    assert counted is not None
    return record(url, counted, now)


def _a_day_of_conversations(offset_days: int = 0) -> List[Dict[str, Any]]:
    """Two conversations: a claim in one, a handoff and a fallback in the other."""
    t = ev.NOON + offset_days * DAY_S
    return [
        ev.user("c1", "衣服太大了能退吗", "size_issue", at=t),
        ev.user("c1", "2026111000001", "provide_order_id", at=t + 10),
        ev.user("c1", "/affirm", "affirm", at=t + 20),
        ev.claim_opened("c1", at=t + 21, problem="size_issue"),
        ev.user("c2", "阿巴阿巴", "nlu_fallback", at=t + 30),
        ev.user("c2", "转人工", "request_human", at=t + 40),
        ev.handoff("c2", at=t + 41, reason="request_human"),
        ev.user("c2", "在吗", "greet", at=t + 50),
    ]


def test_a_day_of_events_gives_its_figures(migrated_url: str) -> None:
    for event in _a_day_of_conversations():
        assert _record(migrated_url, event) is True
    day = figures(migrated_url, DAY).total
    assert (day.first_day, day.last_day) == (DAY, DAY)
    assert day.conversations == 2
    assert day.messages == 6
    assert day.fallbacks == 1 and day.fallback_rate == round(1 / 6, 4)
    assert day.claims_opened == 1 and day.claim_types == {"size_issue": 1}
    assert day.handoffs == 1 and day.handoff_reasons == {"request_human": 1}
    assert day.intents == {
        "affirm": 1,
        "greet": 1,
        "nlu_fallback": 1,
        "provide_order_id": 1,
        "request_human": 1,
        "size_issue": 1,
    }


def test_a_redelivered_event_counts_once(migrated_url: str) -> None:
    events = _a_day_of_conversations()
    for event in events:
        _record(migrated_url, event)
    before = figures(migrated_url, DAY)
    assert [_record(migrated_url, event) for event in events] == [False] * len(events)
    assert figures(migrated_url, DAY) == before


def test_intents_are_ranked_most_frequent_first(migrated_url: str) -> None:
    for i, intent in enumerate(["greet", "size_issue", "size_issue", "affirm", "size_issue"]):
        _record(migrated_url, ev.user("c1", f"m{i}", intent, at=ev.NOON + i))
    intents = figures(migrated_url, DAY).total.intents
    assert list(intents.items()) == [("size_issue", 3), ("affirm", 1), ("greet", 1)]


def test_a_run_of_days_lists_each_day_and_the_distinct_total(migrated_url: str) -> None:
    for offset in (-2, 0):
        for event in _a_day_of_conversations(offset):
            _record(migrated_url, event)
    _record(migrated_url, ev.user("c3", "你好", "greet", at=ev.NOON - DAY_S))
    run = figures(migrated_url, DAY, days=3)
    assert [d.first_day for d in run.days] == [DAY - timedelta(days=n) for n in (2, 1, 0)]
    assert [d.conversations for d in run.days] == [2, 1, 2]
    assert [d.messages for d in run.days] == [6, 1, 6]
    assert [d.fallback_rate for d in run.days] == [round(1 / 6, 4), 0.0, round(1 / 6, 4)]
    total = run.total
    assert (total.first_day, total.last_day) == (DAY - timedelta(days=2), DAY)
    assert total.conversations == 3  # c1 and c2 on two days, c3 once: three conversations
    assert (total.messages, total.claims_opened, total.handoffs) == (13, 2, 2)
    assert total.intents["greet"] == 3


def test_a_day_without_events_is_zeros(migrated_url: str) -> None:
    day = figures(migrated_url, DAY).total
    assert (day.conversations, day.messages, day.claims_opened, day.handoffs) == (0, 0, 0, 0)
    assert day.fallback_rate is None and day.intents == {}


@pytest.mark.parametrize("days", [0, -1, MAX_DAYS + 1])
def test_the_run_of_days_is_bounded(migrated_url: str, days: int) -> None:
    with pytest.raises(ValueError, match="days"):
        figures(migrated_url, DAY, days=days)


def test_old_receipts_are_pruned_and_the_figures_stay(migrated_url: str) -> None:
    old, new = _a_day_of_conversations()[:2]
    _record(migrated_url, old, now=NOW - timedelta(days=8))
    _record(migrated_url, new, now=NOW)
    assert prune_receipts(migrated_url, NOW - timedelta(days=7)) == 1
    with session_scope(migrated_url) as session:
        assert session.scalar(select(func.count()).select_from(EventReceipt)) == 1
    assert figures(migrated_url, DAY).total.messages == 2


def test_concurrent_consumers_count_each_event_once(migrated_url: str, backend: str) -> None:
    events = _a_day_of_conversations()
    results: List[bool] = []
    lock = threading.Lock()
    errors: List[BaseException] = []

    def consume() -> None:
        try:
            for event in events:
                counted = _record(migrated_url, event)
                with lock:
                    results.append(counted)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results.count(True) == len(events)
    day = figures(migrated_url, DAY).total
    assert (day.messages, day.conversations, day.claims_opened, day.handoffs) == (6, 2, 1, 1)
