"""Tests of bot/services.py: decisions and claims on the buyer's own orders."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any, List

import pytest
from sqlalchemy import select

import bot.services as services
from bot.db.models import Claim, ClaimEvent, EvidenceFile
from bot.db.session import session_scope
from bot.services import (
    OpenClaimResult,
    advance_claim,
    attach_evidence,
    buyer_recent_orders,
    claim_evidence,
    decide_for_order,
    evidence_file,
    open_claim,
    order_claims,
    unrefunded_returns,
)
from bot.settings import Settings, load_settings
from tests.bot.db_helpers import row_counts, settings_for
from tests.bot.evidence_samples import GIF, JPEG, PNG, SVG, WEBP

OWN = "2026111000001"  # buyer_001: general, completed 2026-11-16 (W1 open to 12-01)
OLD = "2026100300002"  # buyer_001: general, completed 2026-10-10 (W1 closed)
OTHERS = "2026110500101"  # buyer_002's order
MISSING = "2026010100000"
TODAY = "2026-11-24"


def _settings(url: str, tmp_path: Path, today: str = TODAY) -> Settings:
    return settings_for(url, tmp_path, today)


@pytest.fixture()
def settings(demo_url: str, tmp_path: Path) -> Settings:
    return _settings(demo_url, tmp_path)


def test_decision_for_the_buyers_own_order(settings: Settings) -> None:
    result = decide_for_order(settings, "buyer_001", f" {OWN} ", "quality_issue")
    assert result.outcome == "decided" and result.decision is not None
    assert result.decision.route == "after_sales" and result.decision.window_end == date(
        2026, 12, 1
    )
    assert result.decision.days_left == 7  # 11-24 → 12-01, today pinned by SHOPBOT_TODAY


def test_foreign_order_is_exactly_a_missing_order(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.services")
    foreign = decide_for_order(settings, "buyer_001", OTHERS, "quality_issue")
    foreign_log = [r.getMessage().replace(OTHERS, "ID") for r in caplog.records]
    caplog.clear()
    missing = decide_for_order(settings, "buyer_001", MISSING, "quality_issue")
    missing_log = [r.getMessage().replace(MISSING, "ID") for r in caplog.records]
    assert (foreign.outcome, foreign.order, foreign.decision) == ("not_found", None, None)
    assert (missing.outcome, missing.order, missing.decision) == ("not_found", None, None)
    assert foreign_log == missing_log and len(foreign_log) == 1
    assert decide_for_order(settings, "buyer_002", OTHERS, "quality_issue").outcome == "decided"


@pytest.mark.parametrize("raw", ["1' OR '1'='1", "2026111000001; DROP TABLE orders", "", None])
def test_malformed_and_sql_ids_find_nothing(settings: Settings, raw: Any) -> None:
    assert decide_for_order(settings, "buyer_001", raw, "quality_issue").outcome == "not_found"
    assert open_claim(settings, "buyer_001", raw, "quality_issue").outcome == "not_found"
    assert row_counts(settings.db_url)["orders"] > 0


def test_open_a_claim_the_decision_allows(settings: Settings) -> None:
    result = open_claim(settings, "buyer_001", OWN, "quality_issue", reason="开线了")
    assert result.outcome == "opened" and result.claim is not None
    claim = result.claim
    assert claim.number == f"AS{OWN}" and claim.status == "requested"
    assert claim.type == "quality_issue" and claim.reason == "开线了"
    assert "退货物流底单" in claim.evidence  # E2: after success, within 15 days
    assert [(e.status, e.actor) for e in claim.events] == [("requested", "buyer")]
    assert claim.since == date(2026, 11, 24)
    assert claim.deadline is not None and claim.deadline.due == date(2026, 11, 29)
    with session_scope(settings.db_url) as session:
        stored = session.scalars(select(Claim).where(Claim.order_id == OWN)).one()
        assert stored.decision is not None and stored.decision["rules"][0] == "W1"
        assert stored.decision["route"] == "after_sales"


def test_second_claim_reports_the_first(settings: Settings) -> None:
    first = open_claim(settings, "buyer_001", OWN, "quality_issue")
    second = open_claim(settings, "buyer_001", OWN, "wrong_item")
    assert second.outcome == "already_opened" and second.claim is not None
    assert first.claim is not None
    assert (second.claim.number, second.claim.status) == (first.claim.number, "requested")
    again = decide_for_order(settings, "buyer_001", OWN, "quality_issue").decision
    assert again is not None and again.reason == "dispute_used"


def test_no_claim_when_the_decision_refuses(settings: Settings) -> None:
    result = open_claim(settings, "buyer_001", OLD, "quality_issue")
    assert result.outcome == "not_allowed" and result.claim is None
    assert result.decision is not None and result.decision.reason == "window_closed"
    assert open_claim(settings, "buyer_001", OWN, "greet").outcome == "not_a_claim"
    assert order_claims(settings, "buyer_001", OLD).claims == []


def test_foreign_claims_are_not_found(settings: Settings) -> None:
    opened = open_claim(settings, "buyer_001", OWN, "quality_issue")
    assert opened.claim is not None
    assert open_claim(settings, "buyer_002", OWN, "quality_issue").outcome == "not_found"
    assert order_claims(settings, "buyer_002", OWN).outcome == "not_found"
    change = advance_claim(settings, "buyer_002", opened.claim.number, "withdrawn", actor="buyer")
    assert change.outcome == "not_found"


def test_two_concurrent_openers_exactly_one_wins(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Both openers pass the read of "no claim yet" before either inserts:
    # only the database's unique constraint can stop the second one.
    barrier = threading.Barrier(2, timeout=30)
    real_insert = services.insert_claim

    def insert_after_both_read(*args: Any, **kwargs: Any) -> Any:
        barrier.wait()
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(services, "insert_claim", insert_after_both_read)
    caplog.set_level(logging.INFO, logger="bot.services")
    results: List[OpenClaimResult] = []
    errors: List[BaseException] = []

    def opener(problem: str) -> None:
        try:
            results.append(open_claim(settings, "buyer_001", OWN, problem))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=opener, args=(p,)) for p in ("quality_issue", "wrong_item")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    outcomes = sorted(result.outcome for result in results)
    assert outcomes == ["already_opened", "opened"]
    winner = next(r for r in results if r.outcome == "opened").claim
    loser = next(r for r in results if r.outcome == "already_opened").claim
    assert winner is not None and loser is not None
    assert (loser.number, loser.status, loser.type) == (winner.number, "requested", winner.type)
    # The loser learnt it from the unique constraint (IntegrityError), not a read.
    assert any("already opened as" in r.getMessage() for r in caplog.records)
    with session_scope(settings.db_url) as session:
        assert len(session.scalars(select(Claim).where(Claim.order_id == OWN)).all()) == 1
        assert len(session.scalars(select(ClaimEvent)).all()) == 2  # demo claim + the winner


def test_the_return_flow_records_every_step(settings: Settings) -> None:
    number = f"AS{OWN}"
    open_claim(settings, "buyer_001", OWN, "return_goods")
    steps = [
        ("seller_agreed", "seller", None),
        ("return_address_sent", "system", None),
        ("buyer_shipped", "buyer", "YT1234567890"),
        ("seller_signed", "seller", None),
    ]
    for target, actor, waybill in steps:
        change = advance_claim(
            settings, "buyer_001", number, target, actor=actor, return_tracking_no=waybill
        )
        assert change.outcome == "moved", change.problem
    assert change.claim is not None
    assert [e.status for e in change.claim.events] == [
        "requested",
        "seller_agreed",
        "return_address_sent",
        "buyer_shipped",
        "seller_signed",
    ]
    assert [e.actor for e in change.claim.events][1:] == ["seller", "system", "buyer", "seller"]
    assert change.claim.return_tracking_no == "YT1234567890"
    # N4: the seller refunds within 7 days of signing
    assert change.claim.deadline is not None
    assert change.claim.deadline.due == date(2026, 11, 24) + timedelta(days=7)


def test_steps_outside_the_flow_change_nothing(settings: Settings) -> None:
    number = f"AS{OWN}"
    open_claim(settings, "buyer_001", OWN, "return_goods")
    skipped = advance_claim(settings, "buyer_001", number, "refunded", actor="seller")
    wrong_actor = advance_claim(settings, "buyer_001", number, "seller_agreed", actor="buyer")
    assert skipped.outcome == wrong_actor.outcome == "not_allowed"
    assert skipped.problem == "a claim cannot go from requested to refunded"
    claims = order_claims(settings, "buyer_001", OWN).claims
    assert [(c.status, len(c.events)) for c in claims] == [("requested", 1)]


def test_signed_but_not_refunded_is_detected(settings: Settings, tmp_path: Path) -> None:
    number = f"AS{OWN}"
    open_claim(settings, "buyer_001", OWN, "return_goods")
    for target, actor in (
        ("seller_agreed", "seller"),
        ("return_address_sent", "system"),
        ("buyer_shipped", "buyer"),
        ("seller_signed", "seller"),
    ):
        advance_claim(settings, "buyer_001", number, target, actor=actor, return_tracking_no="YT1")
    assert number in [claim.number for claim in unrefunded_returns(settings, "buyer_001")]
    assert unrefunded_returns(settings, "buyer_002") == []
    due = decide_for_order(settings, "buyer_001", OWN, "refund_progress").decision
    assert due is not None and due.reason == "refund_due" and due.window_end == date(2026, 12, 1)
    later = _settings(settings.db_url, tmp_path, "2026-12-02")
    overdue = decide_for_order(later, "buyer_001", OWN, "refund_progress").decision
    assert overdue is not None and overdue.reason == "refund_overdue"
    assert overdue.can_open_claim  # 客服介入 with the waybill YT1 from the claim


def test_recent_orders_are_the_buyers_own(settings: Settings) -> None:
    orders = buyer_recent_orders(settings, "buyer_001", limit=3)
    assert len(orders) == 3 and {o.buyer_id for o in orders} == {"buyer_001"}


# --- Evidence photos -----------------------------------------------------

SIGNED = "2026110200012"  # buyer_001's demo claim: seller_signed (open), no checklist


def _uploads(settings: Settings) -> List[str]:
    folder = settings.upload_dir
    return sorted(os.listdir(folder)) if folder.exists() else []


def _evidence_rows(settings: Settings) -> int:
    with session_scope(settings.db_url) as session:
        return len(session.scalars(select(EvidenceFile)).all())


def test_evidence_ticks_off_the_open_claims_checklist(settings: Settings) -> None:
    opened = open_claim(settings, "buyer_001", OWN, "quality_issue")
    assert opened.claim is not None
    items = list(opened.claim.evidence)
    first = attach_evidence(settings, "buyer_001", OWN, PNG)
    assert first.outcome == "ok" and first.file is not None
    assert first.file.item == items[0] and first.file.mime == "image/png"
    assert first.file.claim_number == f"AS{OWN}" and first.file.size == len(PNG)
    assert first.file.sha256 == hashlib.sha256(PNG).hexdigest()
    assert [c.item for c in first.checklist if c.ticked] == [items[0]]
    second = attach_evidence(settings, "buyer_001", f"AS{OWN}", JPEG, item=items[2])
    assert second.outcome == "ok" and second.file is not None
    assert [c.item for c in second.checklist if c.ticked] == [items[0], items[2]]
    stored = _uploads(settings)
    assert stored == sorted([first.file.stored_name, second.file.stored_name])
    assert (settings.upload_dir / first.file.stored_name).read_bytes() == PNG
    shown = claim_evidence(settings, OWN)
    assert shown is not None and shown.claim_number == f"AS{OWN}"
    assert [f.stored_name for f in shown.files] == [first.file.stored_name, second.file.stored_name]
    found = evidence_file(settings, second.file.id)
    assert found is not None and found[0].mime == "image/jpeg" and found[1].read_bytes() == JPEG


def test_evidence_on_the_demo_claim_without_checklist(settings: Settings) -> None:
    result = attach_evidence(settings, "buyer_001", SIGNED, WEBP)
    assert result.outcome == "ok" and result.file is not None
    assert result.file.item is None and result.checklist == ()
    assert result.file.stored_name.endswith(".webp")


@pytest.mark.parametrize(
    ("buyer", "reference", "outcome"),
    [
        ("buyer_002", SIGNED, "no_open_claim"),  # a foreign claim is not found
        ("buyer_001", OLD, "no_open_claim"),  # an order without a claim
        ("buyer_001", MISSING, "no_open_claim"),
        ("buyer_001", "../../etc/passwd", "no_open_claim"),
        ("buyer_001", f"{SIGNED}\x00.png", "no_open_claim"),
        ("buyer_001", "AS' OR 1=1 --", "no_open_claim"),
    ],
)
def test_evidence_needs_the_buyers_own_open_claim(
    settings: Settings, buyer: str, reference: str, outcome: str
) -> None:
    before = row_counts(settings.db_url)
    assert attach_evidence(settings, buyer, reference, PNG).outcome == outcome
    assert _uploads(settings) == [] and _evidence_rows(settings) == 0
    assert row_counts(settings.db_url) == before


@pytest.mark.parametrize(
    ("data", "outcome"),
    [(b"", "empty"), (GIF, "bad_type"), (SVG, "bad_type"), (PNG + b"\x00" * 200, "too_large")],
)
def test_bad_uploads_store_nothing(
    demo_url: str, tmp_path: Path, data: bytes, outcome: str
) -> None:
    settings = load_settings(
        {
            "SHOPBOT_DB_URL": demo_url,
            "SHOPBOT_VAR_DIR": str(tmp_path),
            "SHOPBOT_TODAY": TODAY,
            "SHOPBOT_UPLOAD_MAX_BYTES": "128",
        }
    )
    assert attach_evidence(settings, "buyer_001", SIGNED, data).outcome == outcome
    assert _uploads(settings) == [] and _evidence_rows(settings) == 0


def test_evidence_for_an_item_not_on_the_checklist(settings: Settings) -> None:
    open_claim(settings, "buyer_001", OWN, "quality_issue")
    assert attach_evidence(settings, "buyer_001", OWN, PNG, item="别的").outcome == "bad_item"
    assert _uploads(settings) == [] and _evidence_rows(settings) == 0


def test_a_finished_claim_takes_no_evidence(settings: Settings) -> None:
    advance_claim(settings, "buyer_001", f"AS{SIGNED}", "refunded", actor="seller")
    assert attach_evidence(settings, "buyer_001", SIGNED, PNG).outcome == "no_open_claim"
    assert _uploads(settings) == []


def test_a_failed_record_removes_the_stored_file(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_now() -> Any:
        raise RuntimeError("clock broke")

    monkeypatch.setattr(Settings, "now", lambda self: broken_now())
    with pytest.raises(RuntimeError):
        attach_evidence(settings, "buyer_001", SIGNED, PNG)
    assert _uploads(settings) == [] and _evidence_rows(settings) == 0


def test_console_reads_of_missing_evidence(settings: Settings) -> None:
    assert claim_evidence(settings, OLD) is None
    assert claim_evidence(settings, "../x") is None
    assert evidence_file(settings, 12345) is None
    result = attach_evidence(settings, "buyer_001", SIGNED, PNG)
    assert result.file is not None
    (settings.upload_dir / result.file.stored_name).unlink()
    assert evidence_file(settings, result.file.id) is None
