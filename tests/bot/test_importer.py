"""Tests of bot/importer.py: format validation and idempotent upserts."""

from __future__ import annotations

import copy
import json
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select

from bot.db.models import (
    CATEGORIES,
    CLAIM_STATUSES,
    CLAIM_TYPES,
    ORDER_STATUSES,
    Buyer,
    Claim,
    ClaimEvent,
    Order,
    Shop,
)
from bot.db.session import session_scope
from bot.importer import (
    SECTIONS,
    BuyerRow,
    ClaimRow,
    ImportFormatError,
    ImportIssue,
    ImportReport,
    OrderRow,
    ShopRow,
    import_data,
    import_file,
    parse_json,
    parse_yaml,
)
from tests.bot.db_helpers import DEMO_FILE, row_counts, snapshot
from tests.conftest import small_order_set
from tests.strategies import any_text, encode, fuzz, huge_text, json_values

Data = Dict[str, Any]


def base_data() -> Data:
    """A valid file: one shop, one buyer, two orders, one claim."""
    return {
        "shops": [{"id": "shop_t", "name": "测试小铺"}],
        "buyers": [{"id": "buyer_t", "nick": "测试"}],
        "orders": [
            {
                "order_id": "2026110100901",
                "buyer_id": "buyer_t",
                "shop_id": "shop_t",
                "product": "T恤",
                "category": "general",
                "quantity": 1,
                "price": "79.00",
                "status": "completed",
                "paid_at": "2026-11-01T10:00:00+08:00",
                "completed_at": "2026-11-05T23:30:00+08:00",
            },
            {
                "order_id": "2026110100902",
                "buyer_id": "buyer_t",
                "shop_id": "shop_t",
                "product": "会员卡",
                "category": "virtual",
                "quantity": 1,
                "price": "25",
                "status": "paid",
                "paid_at": "2026-11-02T10:00:00+08:00",
                "usage_term_days": 7,
            },
        ],
        "claims": [
            {
                "order_id": "2026110100901",
                "type": "return_goods",
                "status": "requested",
                "opened_at": "2026-11-06T10:00:00+08:00",
            }
        ],
    }


def _import(url: str, data: Any, **kwargs: Any) -> ImportReport:
    with session_scope(url) as session:
        return import_data(data, session, **kwargs)


def _import_file(url: str, path: Path) -> ImportReport:
    with session_scope(url) as session:
        return import_file(path, session)


def _errors(url: str, data: Any) -> List[ImportIssue]:
    with pytest.raises(ImportFormatError) as caught, session_scope(url) as session:
        import_data(data, session)
    return caught.value.errors


# --------------------------------------------------------------------------
# The demo file


def test_demo_file_imports_everything(migrated_url: str) -> None:
    report = _import_file(migrated_url, DEMO_FILE)
    assert (report.shops.inserted, report.buyers.inserted) == (3, 2)
    assert (report.orders.inserted, report.claims.inserted, report.claim_events) == (17, 1, 1)
    assert report.summary().startswith("orders: 17 inserted, 0 updated, 0 unchanged; ")
    assert row_counts(migrated_url) == {
        "shops": 3,
        "buyers": 2,
        "orders": 17,
        "claims": 1,
        "claim_events": 1,
    }


def test_reimporting_the_demo_file_changes_nothing(demo_url: str) -> None:
    before = snapshot(demo_url)
    report = _import_file(demo_url, DEMO_FILE)
    assert snapshot(demo_url) == before
    assert not report.changed
    assert report.claim_events == 0
    for counts, total in (
        (report.shops, 3),
        (report.buyers, 2),
        (report.orders, 17),
        (report.claims, 1),
    ):
        assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, total)


def test_demo_file_covers_the_cases(demo_url: str) -> None:
    with session_scope(demo_url) as session:
        orders = session.scalars(select(Order).where(Order.buyer_id == "buyer_001")).all()
        other = session.scalars(select(Order).where(Order.buyer_id == "buyer_002")).all()
        claim = session.scalars(select(Claim)).one()
    assert len(orders) >= 10 and len(other) >= 3
    categories = {order.category for order in orders}
    assert categories == set(CATEGORIES)
    assert {"completed", "shipped", "paid", "delivered"} <= {order.status for order in orders}
    demo_day = datetime(2026, 11, 24, tzinfo=timezone(timedelta(hours=8)))
    for order in [*orders, *other]:
        assert len(order.order_id) == 13 and order.order_id.startswith("2026")
        for moment in (order.paid_at, order.shipped_at, order.delivered_at, order.completed_at):
            assert moment is None or moment < demo_day
        expected_default = order.category not in (
            "virtual",
            "custom_made",
            "fresh",
            "intimate_apparel",
        )
        assert order.no_reason_return is expected_default
    assert any(o.category == "virtual" and o.usage_term_days == 7 for o in orders)
    shipped = [o for o in orders if o.status == "shipped"]
    assert shipped and all(o.courier and o.tracking_no for o in shipped)
    assert (claim.status, claim.return_tracking_no) == ("seller_signed", "YT9876543210")
    first_id = DEMO_FILE.read_text(encoding="utf-8").split("first order id:")[1].split()[0]
    assert first_id == "2026111000001" and first_id in {o.order_id for o in orders}


# --------------------------------------------------------------------------
# Defaults and accepted spellings


def test_category_defaults_and_free_shipping_default(migrated_url: str) -> None:
    _import(migrated_url, base_data())
    with session_scope(migrated_url) as session:
        general = session.get(Order, "2026110100901")
        virtual = session.get(Order, "2026110100902")
    assert general is not None and virtual is not None
    assert (general.no_reason_return, general.free_shipping) == (True, True)
    assert (virtual.no_reason_return, virtual.free_shipping) == (False, True)
    assert virtual.price == Decimal("25.00")


def test_yaml_numbers_are_exact_and_unquoted_ids_keep_their_digits(
    migrated_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "orders.yml"
    path.write_text(
        "shops: [{id: s, name: 店}]\n"
        "buyers: [{id: b}]\n"
        "orders:\n"
        "  - {order_id: 2026110100001, buyer_id: b, shop_id: s, product: p,\n"
        "     category: general, quantity: 1, price: 2999.10, status: unpaid}\n"
        "  - {order_id: 0123, buyer_id: b, shop_id: s, product: p,\n"
        "     category: general, quantity: 1, price: 0.1, status: unpaid,\n"
        "     tracking_no: 773012345678}\n",
        encoding="utf-8",
    )
    report = _import_file(migrated_url, path)
    assert report.orders.inserted == 2
    with session_scope(migrated_url) as session:
        prices = dict(session.execute(select(Order.order_id, Order.price)).tuples().all())
        octal = session.get(Order, "0123")
    assert prices == {"2026110100001": Decimal("2999.10"), "0123": Decimal("0.10")}
    assert octal is not None and octal.tracking_no == "773012345678"


def test_json_file_with_number_price_and_sniffed_format(migrated_url: str, tmp_path: Path) -> None:
    data = base_data()
    text = json.dumps(data, ensure_ascii=False).replace('"79.00"', "79.9")
    path = tmp_path / "export.txt"  # no known suffix: sniffed as JSON
    path.write_text(text, encoding="utf-8")
    report = _import_file(migrated_url, path)
    assert report.orders.inserted == 2
    with session_scope(migrated_url) as session:
        assert session.get(Order, "2026110100901").price == Decimal("79.90")  # type: ignore[union-attr]


def test_python_datetimes_and_int_ids_are_accepted(migrated_url: str) -> None:
    data = base_data()
    data["orders"][0]["order_id"] = 2026110100901
    data["orders"][0]["paid_at"] = datetime(2026, 11, 1, 10, tzinfo=timezone.utc)
    report = _import(migrated_url, data)
    assert report.orders.inserted == 2


def test_order_may_refer_to_a_buyer_and_shop_already_in_the_database(migrated_url: str) -> None:
    _import(migrated_url, base_data())
    later = {
        "orders": [
            {
                **base_data()["orders"][0],
                "order_id": "2026111100903",
            }
        ],
        "claims": [
            {
                "order_id": "2026110100902",  # an order imported before
                "type": "virtual_goods_issue",
                "status": "requested",
                "opened_at": "2026-11-07T10:00:00+08:00",
            }
        ],
    }
    report = _import(migrated_url, later)
    assert (report.orders.inserted, report.claims.inserted) == (1, 1)


# --------------------------------------------------------------------------
# Updates


def test_changed_rows_are_updated_not_duplicated(migrated_url: str) -> None:
    _import(migrated_url, base_data())
    data = base_data()
    data["orders"][0]["price"] = "69.00"
    data["orders"][0]["courier"] = "顺丰"
    data["shops"][0]["name"] = "新名字"
    report = _import(migrated_url, data)
    assert (report.orders.inserted, report.orders.updated, report.orders.unchanged) == (0, 1, 1)
    assert (report.shops.updated, report.buyers.unchanged) == (1, 1)
    with session_scope(migrated_url) as session:
        order = session.get(Order, "2026110100901")
        assert order is not None and (order.price, order.courier) == (Decimal("69.00"), "顺丰")
    assert row_counts(migrated_url)["orders"] == 2


def test_claim_status_change_updates_the_claim_and_records_one_event(migrated_url: str) -> None:
    first = _import(migrated_url, base_data())
    assert (first.claims.inserted, first.claim_events) == (1, 1)

    data = base_data()
    data["claims"][0]["status"] = "buyer_shipped"
    data["claims"][0]["return_tracking_no"] = "YT1"
    second = _import(migrated_url, data)
    assert (second.claims.inserted, second.claims.updated, second.claim_events) == (0, 1, 1)

    data["claims"][0]["reason"] = "太大了"  # a change without a new status
    third = _import(migrated_url, data)
    assert (third.claims.updated, third.claim_events) == (1, 0)

    fourth = _import(migrated_url, data)
    assert (fourth.claims.unchanged, fourth.claim_events) == (1, 0)

    with session_scope(migrated_url) as session:
        claims = session.scalars(select(Claim)).all()
        events = session.scalars(select(ClaimEvent).order_by(ClaimEvent.id)).all()
        assert [(c.status, c.return_tracking_no, c.reason) for c in claims] == [
            ("buyer_shipped", "YT1", "太大了")
        ]
        assert [e.status for e in events] == ["requested", "buyer_shipped"]
        assert all(e.actor == "import" and e.at.tzinfo is not None for e in events)


# --------------------------------------------------------------------------
# Bad input: the right position and field, and nothing written

Mutation = Callable[[Data], None]
FUTURE = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()


def _set(section: str, index: int, field: str, value: Any) -> Mutation:
    def mutate(data: Data) -> None:
        data[section][index][field] = value

    return mutate


def _delete(section: str, index: int, field: str) -> Mutation:
    def mutate(data: Data) -> None:
        del data[section][index][field]

    return mutate


def _append_duplicate_order(data: Data) -> None:
    data["orders"].append(copy.deepcopy(data["orders"][0]))


BAD_DATA: List[Tuple[str, Mutation, str, str]] = [
    (
        "sql order id",
        _set("orders", 0, "order_id", "1; DROP TABLE orders;--"),
        "orders[0]",
        "order_id",
    ),
    ("sql order id quote", _set("orders", 1, "order_id", "1' OR '1'='1"), "orders[1]", "order_id"),
    ("order id too long", _set("orders", 0, "order_id", "1" * 33), "orders[0]", "order_id"),
    ("empty order id", _set("orders", 0, "order_id", ""), "orders[0]", "order_id"),
    ("full-width order id", _set("orders", 0, "order_id", "２０２６"), "orders[0]", "order_id"),
    ("negative order id", _set("orders", 0, "order_id", -5), "orders[0]", "order_id"),
    ("boolean order id", _set("orders", 0, "order_id", True), "orders[0]", "order_id"),
    ("negative price", _set("orders", 0, "price", "-5.00"), "orders[0]", "price"),
    ("three decimals", _set("orders", 1, "price", "19.999"), "orders[1]", "price"),
    ("decimal three places", _set("orders", 1, "price", Decimal("0.001")), "orders[1]", "price"),
    ("float price", _set("orders", 0, "price", 19.9), "orders[0]", "price"),
    ("text price", _set("orders", 0, "price", "¥19"), "orders[0]", "price"),
    ("nan price", _set("orders", 0, "price", "NaN"), "orders[0]", "price"),
    ("huge exponent price", _set("orders", 0, "price", "1e999999"), "orders[0]", "price"),
    ("huge price", _set("orders", 0, "price", "10000000000"), "orders[0]", "price"),
    ("unknown category", _set("orders", 0, "category", "weapons"), "orders[0]", "category"),
    ("unknown status", _set("orders", 0, "status", "lost"), "orders[0]", "status"),
    ("zero quantity", _set("orders", 0, "quantity", 0), "orders[0]", "quantity"),
    ("bool quantity", _set("orders", 0, "quantity", True), "orders[0]", "quantity"),
    ("text bool", _set("orders", 0, "free_shipping", "yes"), "orders[0]", "free_shipping"),
    ("naive datetime", _set("orders", 0, "paid_at", "2026-11-01T10:00:00"), "orders[0]", "paid_at"),
    ("date only", _set("orders", 0, "completed_at", "2026-11-05"), "orders[0]", "completed_at"),
    ("not a date", _set("orders", 0, "paid_at", "yesterday"), "orders[0]", "paid_at"),
    ("future date", _set("orders", 0, "completed_at", FUTURE), "orders[0]", "completed_at"),
    ("future claim", _set("claims", 0, "opened_at", FUTURE), "claims[0]", "opened_at"),
    # Found by the import property: these passed validation and crashed the
    # write (no format error, a traceback from `shopbot db import`).
    ("lone surrogate", _set("orders", 0, "product", "衣\ud800"), "orders[0]", "product"),
    ("lone surrogate nick", _set("buyers", 0, "nick", "\udfff"), "buyers[0]", "nick"),
    ("lone surrogate reason", _set("claims", 0, "reason", "a\udc00"), "claims[0]", "reason"),
    (
        "before year 1 in UTC",
        _set("orders", 0, "paid_at", "0001-01-01T00:00:00+01:00"),
        "orders[0]",
        "paid_at",
    ),
    (
        "after year 9999 in UTC",
        _set(
            "claims",
            0,
            "opened_at",
            datetime(9999, 12, 31, 23, tzinfo=timezone(-timedelta(hours=2))),
        ),
        "claims[0]",
        "opened_at",
    ),
    ("unknown buyer", _set("orders", 1, "buyer_id", "buyer_zz"), "orders[1]", "buyer_id"),
    ("unknown shop", _set("orders", 1, "shop_id", "shop_zz"), "orders[1]", "shop_id"),
    ("missing product", _delete("orders", 0, "product"), "orders[0]", "product"),
    ("empty product", _set("orders", 0, "product", "  "), "orders[0]", "product"),
    ("unknown field", _set("orders", 0, "colour", "red"), "orders[0]", "colour"),
    ("paid without paid_at", _delete("orders", 1, "paid_at"), "orders[1]", "paid_at"),
    (
        "completed without completed_at",
        _delete("orders", 0, "completed_at"),
        "orders[0]",
        "completed_at",
    ),
    (
        "usage term of goods",
        _set("orders", 0, "usage_term_days", 7),
        "orders[0]",
        "usage_term_days",
    ),
    ("duplicate order", _append_duplicate_order, "orders[2]", "order_id"),
    ("claim unknown order", _set("claims", 0, "order_id", "999"), "claims[0]", "order_id"),
    ("claim unknown type", _set("claims", 0, "type", "greet"), "claims[0]", "type"),
    ("claim unknown status", _set("claims", 0, "status", "pending"), "claims[0]", "status"),
    ("shop without name", _delete("shops", 0, "name"), "shops[0]", "name"),
    ("buyer id with space", _set("buyers", 0, "id", "buyer t"), "buyers[0]", "id"),
]


@pytest.mark.parametrize(
    ("mutate", "position", "field"),
    [case[1:] for case in BAD_DATA],
    ids=[case[0] for case in BAD_DATA],
)
def test_bad_rows_are_reported_and_nothing_is_written(
    demo_url: str, mutate: Mutation, position: str, field: str
) -> None:
    data = base_data()
    mutate(data)
    before = snapshot(demo_url)
    errors = _errors(demo_url, data)
    assert (position, field) in [(error.position, error.field) for error in errors], errors
    assert snapshot(demo_url) == before


BAD_DOCUMENTS: List[Tuple[str, Any, str]] = [
    ("top level is a list", [base_data()], "document"),
    ("top level is text", "orders", "document"),
    ("empty document", None, "document"),
    ("section not a list", {"orders": {"order_id": "1"}}, "orders"),
    ("row not a mapping", {"orders": ["2026110100901"]}, "orders[0]"),
    ("unknown section", {"order": []}, "document"),
]


@pytest.mark.parametrize(
    ("data", "position"),
    [case[1:] for case in BAD_DOCUMENTS],
    ids=[case[0] for case in BAD_DOCUMENTS],
)
def test_bad_documents_are_reported(demo_url: str, data: Any, position: str) -> None:
    before = snapshot(demo_url)
    errors = _errors(demo_url, data)
    assert [error.position for error in errors] == [position]
    assert snapshot(demo_url) == before


BAD_FILES: List[Tuple[str, str, str, str]] = [
    ("broken yaml", "orders.yaml", "orders:\n  - order_id: '1\n    price: [\n", "line "),
    ("yaml tabs", "orders.yaml", "orders:\n\t- order_id: 1\n", "line "),
    ("duplicate yaml key", "orders.yaml", "shops: []\nshops: []\n", "line 2"),
    ("broken json", "orders.json", '{"orders": [{"order_id": "1",}]}', "line 1"),
    ("duplicate json key", "orders.json", '{"orders": [], "orders": []}', "document"),
    ("yaml list", "orders.yaml", "- order_id: '1'\n", "document"),
    ("json list", "orders.json", '[{"order_id": "1"}]', "document"),
    ("empty yaml", "orders.yaml", "", "document"),
    ("two yaml documents", "orders.yaml", "shops: []\n---\nshops: []\n", "line "),
    ("python object tag", "orders.yaml", "orders: !!python/object:os.system {}\n", "line "),
]


@pytest.mark.parametrize(
    ("name", "text", "position"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_bad_files_are_reported_and_nothing_is_written(
    demo_url: str, tmp_path: Path, name: str, text: str, position: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    before = snapshot(demo_url)
    with pytest.raises(ImportFormatError) as caught, session_scope(demo_url) as session:
        import_file(path, session)
    assert len(caught.value.errors) == 1
    assert caught.value.errors[0].position.startswith(position), caught.value.errors
    assert str(path) in str(caught.value)
    assert snapshot(demo_url) == before


def test_not_utf8_is_reported(migrated_url: str, tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_bytes("shops: [{id: s, name: 店}]".encode("gbk"))
    with pytest.raises(ImportFormatError) as caught, session_scope(migrated_url) as session:
        import_file(path, session)
    assert caught.value.errors[0].position == "document"


def test_missing_file_raises_oserror(migrated_url: str, tmp_path: Path) -> None:
    with pytest.raises(OSError), session_scope(migrated_url) as session:
        import_file(tmp_path / "nope.yaml", session)


def test_all_errors_are_collected_and_good_rows_are_not_written(migrated_url: str) -> None:
    data = base_data()
    data["orders"][0]["price"] = "1.234"
    data["orders"][1]["category"] = "nope"
    data["orders"][1]["paid_at"] = "2026-11-02 10:00"
    data["orders"].append({**base_data()["orders"][0], "order_id": "2026110100999"})  # valid
    data["claims"][0]["type"] = "nope"
    errors = _errors(migrated_url, data)
    assert [(e.position, e.field) for e in errors] == [
        ("orders[0]", "price"),
        ("orders[1]", "category"),
        ("orders[1]", "paid_at"),
        ("claims[0]", "type"),
    ]
    assert row_counts(migrated_url) == dict.fromkeys(
        ("shops", "buyers", "orders", "claims", "claim_events"), 0
    )


ODD_VALUES: List[Any] = [None, [], {}, 1.5, True, -1, "", "x" * 5000, "1e999999", "9" * 5000]


def test_odd_values_in_any_field_give_format_errors_only(migrated_url: str) -> None:
    models = {"shops": ShopRow, "buyers": BuyerRow, "orders": OrderRow, "claims": ClaimRow}
    for section, model in models.items():
        index = 0
        for field in model.model_fields:
            for value in ODD_VALUES:
                data = base_data()
                data[section][index][field] = value
                try:
                    _import(migrated_url, data)
                except ImportFormatError as exc:
                    assert exc.errors, (section, field, value)
    assert row_counts(migrated_url)["orders"] <= 2


def test_reference_to_a_row_with_other_errors_is_not_reported_as_unknown(
    migrated_url: str,
) -> None:
    data = base_data()
    data["orders"][0]["price"] = "1.234"  # the claim refers to this order
    data["buyers"][0]["nick"] = "x" * 101  # both orders refer to this buyer
    errors = _errors(migrated_url, data)
    assert [(e.position, e.field) for e in errors] == [
        ("buyers[0]", "nick"),
        ("orders[0]", "price"),
    ]


def test_errors_print_as_one_line_naming_position_and_field(migrated_url: str) -> None:
    data = base_data()
    data["orders"][0]["price"] = "-1"
    data["orders"][0]["order_id"] = "x\ny"
    data["orders"][0]["odd\nkey"] = 1
    data["odd\nsection"] = []
    errors = _errors(migrated_url, data)
    assert ("orders[0]", "'odd\\nkey'") in [(e.position, e.field) for e in errors]
    assert ("document", "'odd\\nsection'") in [(e.position, e.field) for e in errors]
    lines = [str(error) for error in errors]
    assert all("\n" not in line for line in lines)
    assert any(line.startswith("orders[0].price: ") for line in lines)
    assert any(line.startswith("orders[0].order_id: ") for line in lines)


def test_cli_import_reports_errors_and_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main
    from bot.db.session import dispose_engines

    monkeypatch.setenv("SHOPBOT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPBOT_DB_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    data = base_data()
    data["orders"][0]["price"] = "19.999"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    try:
        assert main(["db", "import", str(bad)]) == 1
        err = capsys.readouterr().err
        assert "nothing was imported" in err and "orders[0].price:" in err
        assert main(["db", "import", str(DEMO_FILE)]) == 0
        assert capsys.readouterr().out.startswith("orders: 17 inserted")
    finally:
        dispose_engines()


def test_many_orders_import_quickly(migrated_url: str, backend: str) -> None:
    count = 5000
    data: Data = {
        "shops": [{"id": "s", "name": "店"}],
        "buyers": [{"id": f"b{n}"} for n in range(10)],
        "orders": [
            {
                "order_id": f"{2026000000000 + n}",
                "buyer_id": f"b{n % 10}",
                "shop_id": "s",
                "product": "商品",
                "category": "general",
                "quantity": 1,
                "price": f"{n % 1000}.{n % 100:02d}",
                "status": "paid",
                "paid_at": "2026-11-01T10:00:00+08:00",
            }
            for n in range(count)
        ],
    }
    started = time.perf_counter()
    assert _import(migrated_url, data).orders.inserted == count
    again = _import(migrated_url, data)
    elapsed = time.perf_counter() - started
    assert again.orders.unchanged == count
    assert elapsed < 20, f"{count} orders took {elapsed:.1f}s on {backend}"


# --------------------------------------------------------------------------
# Properties (hypothesis): random documents with bad rows, garbage files

#: The import's clock: timestamps after NOW + 1 day are "in the future".
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
ZONES = [timezone(timedelta(minutes=m)) for m in (480, 0, -300, 345, 840, -720)]
SECTION_MODELS = {"shops": ShopRow, "buyers": BuyerRow, "orders": OrderRow, "claims": ClaimRow}
KEYS = {"shops": "id", "buyers": "id", "orders": "order_id", "claims": "order_id"}
REQUIRED = {
    "shops": ("id", "name"),
    "buyers": ("id",),
    "orders": ("order_id", "buyer_id", "shop_id", "product", "category", "quantity", "price"),
    "claims": ("order_id", "type", "status", "opened_at"),
}
PARTY_BAD = ["", "a b", "x" * 129, "a\ud800", "a\x00", None, [], {"id": 1}]
STAMP_BAD = [
    "2026-11-01 10:00",  # no UTC offset
    "2030-01-01T00:00:00+08:00",  # in the future
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "yesterday",
    5,
    [],
]
#: Values certainly refused in each field (whatever the file's format).
CERTAINLY_BAD: Dict[str, List[Any]] = {
    "id": PARTY_BAD,
    "buyer_id": PARTY_BAD,
    "shop_id": PARTY_BAD,
    "name": ["", "x" * 201, "\x07", "店\ud800", None],
    "nick": ["x" * 101, "\x1b", "\udfff", []],
    "order_id": ["12a", "", "1" * 33, -5, [], "１２", None],
    "product": ["", "x" * 501, "a\x00b", "衣\udc00", None, {"a": 1}],
    "category": ["nope", "", 3, None, ["general"]],
    "status": ["nope", "", 0, None],
    "quantity": [0, -1, 1_000_001, "1.5", [], {}, True, "一", None],
    "price": ["-1", "1.234", "abc", [], True, "NaN", "Infinity", "1e999999", "9" * 5000, None],
    "paid_at": STAMP_BAD,
    "shipped_at": STAMP_BAD,
    "opened_at": [*STAMP_BAD, None],
    "courier": ["x" * 65, "\x00"],
    "tracking_no": ["x" * 65, "\x01"],
    "return_tracking_no": ["x" * 65],
    "reason": ["x" * 2001, "\x02"],
    "type": ["nope", "", 1],
    "no_reason_return": ["yes", 1, "true"],
    "free_shipping": ["no", 0],
    "usage_term_days": [0, 3651, "x"],
}

party_ids = st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=12)
free_text = st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), max_size=30).filter(
    str.strip
)
stamps = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2026, 11, 20),
    timezones=st.sampled_from(ZONES),
).map(datetime.isoformat)
prices = st.decimals(0, Decimal("99999.99"), places=2).map(str) | st.integers(0, 10**6)
#: Anything at all, for fields that may or may not accept it.
junk = st.one_of(
    json_values,
    any_text,
    huge_text,
    st.integers(),
    st.decimals(),
    st.floats(),
    st.booleans(),
    st.datetimes(timezones=st.none() | st.timezones() | st.sampled_from(ZONES)).map(
        datetime.isoformat
    ),
)


@st.composite
def order_rows(draw: st.DrawFn, order_id: str, buyers: List[str], shops: List[str]) -> Data:
    """A valid order (its status's timestamps present; the options at random)."""
    status = draw(st.sampled_from(ORDER_STATUSES))
    category = draw(st.sampled_from(CATEGORIES))
    row: Data = {
        "order_id": order_id,
        "buyer_id": draw(st.sampled_from(buyers)),
        "shop_id": draw(st.sampled_from(shops)),
        "product": draw(free_text),
        "category": category,
        "quantity": draw(st.integers(1, 1000)),
        "price": draw(prices),
        "status": status,
    }
    for name, needed in (
        ("paid_at", status in ("paid", "shipped", "delivered", "completed")),
        ("shipped_at", False),
        ("delivered_at", False),
        ("completed_at", status == "completed"),
    ):
        if needed or draw(st.booleans()):
            row[name] = draw(stamps)
    for name in ("no_reason_return", "free_shipping"):
        if draw(st.booleans()):
            row[name] = draw(st.booleans())
    for name in ("courier", "tracking_no"):
        if draw(st.booleans()):
            row[name] = draw(free_text.filter(lambda s: len(s.strip()) <= 64))
    if category == "virtual" and draw(st.booleans()):
        row["usage_term_days"] = draw(st.integers(1, 3650))
    return row


@st.composite
def valid_documents(draw: st.DrawFn, known: Data) -> Data:
    """A document the importer must accept, over a database holding ``known``."""
    shops = draw(st.lists(party_ids, max_size=2, unique=True))
    buyers = draw(st.lists(party_ids, max_size=3, unique=True))
    old_orders = [row["order_id"] for row in known["orders"]]
    fresh = st.integers(1, 10**14).map(str)
    order_ids = draw(st.lists(st.sampled_from(old_orders) | fresh, max_size=6, unique=True))
    all_shops = shops + [row["id"] for row in known["shops"]]
    all_buyers = buyers + [row["id"] for row in known["buyers"]]
    orders = [draw(order_rows(oid, all_buyers, all_shops)) for oid in order_ids]
    claimed = draw(st.lists(st.sampled_from(order_ids + old_orders), max_size=3, unique=True))
    claims: List[Data] = []
    for order_id in claimed:
        claim: Data = {
            "order_id": order_id,
            "type": draw(st.sampled_from(CLAIM_TYPES)),
            "status": draw(st.sampled_from(CLAIM_STATUSES)),
            "opened_at": draw(stamps),
        }
        if draw(st.booleans()):
            claim["reason"] = draw(free_text)
        claims.append(claim)
    document: Data = {
        "shops": [{"id": i, "name": draw(free_text)} for i in shops],
        "buyers": [
            {"id": i, **({"nick": draw(free_text)} if draw(st.booleans()) else {})} for i in buyers
        ],
        "orders": orders,
        "claims": claims,
    }
    for name in draw(st.sets(st.sampled_from(SECTIONS))):
        if not document[name]:
            del document[name]  # a missing section is an empty one
    return document


Expected = List[Tuple[str, Optional[str]]]


@st.composite
def bad_documents(draw: st.DrawFn, known: Data) -> Tuple[Any, Expected, bool]:
    """A valid document with mutations applied.

    Returns:
        The data; the issues it must be refused with (position, and field
        when certain); whether it holds junk that may or may not be refused.
    """
    document = draw(valid_documents(known))
    expected: Expected = []
    touched: Set[Tuple[str, int]] = set()
    maybe = False

    def untouched(section: str) -> Optional[int]:
        rows = document.get(section) or []
        free = [i for i in range(len(rows)) if (section, i) not in touched]
        if not free:
            return None
        index: int = draw(st.sampled_from(free))
        touched.add((section, index))
        return index

    kinds = ["bad_value", "drop", "extra", "not_mapping", "duplicate", "unknown_ref", "junk"]
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=4)):
        section = draw(st.sampled_from(SECTIONS))
        index = untouched(section)
        if index is None:
            continue
        rows = document[section]
        row, position = rows[index], f"{section}[{index}]"
        if kind == "bad_value":
            names = [n for n in SECTION_MODELS[section].model_fields if n in CERTAINLY_BAD]
            name = draw(st.sampled_from(names))
            row[name] = draw(st.sampled_from(CERTAINLY_BAD[name]))
            expected.append((position, name))
        elif kind == "drop":
            name = draw(st.sampled_from(REQUIRED[section]))
            del row[name]
            expected.append((position, name))
        elif kind == "extra":
            fields = SECTION_MODELS[section].model_fields
            name = draw(any_text.filter(lambda k, fields=fields: k not in fields))
            row[name] = draw(junk)
            expected.append((position, None))
        elif kind == "not_mapping":
            rows[index] = draw(json_values.filter(lambda v: not isinstance(v, dict)))
            expected.append((position, None))
        elif kind == "duplicate":
            rows.append(copy.deepcopy(row))
            touched.add((section, len(rows) - 1))
            expected.append((f"{section}[{len(rows) - 1}]", KEYS[section]))
        elif kind == "unknown_ref" and section in ("orders", "claims"):
            name = (
                draw(st.sampled_from(["buyer_id", "shop_id"]))
                if section == "orders"
                else "order_id"
            )
            row[name] = "9" * 30 if name == "order_id" else "ghost-" + draw(party_ids)
            expected.append((position, name))
        elif kind == "junk":
            name = draw(st.sampled_from([*SECTION_MODELS[section].model_fields]))
            row[name] = draw(junk)
            maybe = True
    whole = draw(st.sampled_from(["as is"] * 8 + ["not a mapping", "section", "unknown section"]))
    if whole == "not a mapping":
        return (
            draw(json_values.filter(lambda v: not isinstance(v, dict))),
            [("document", None)],
            False,
        )
    if whole == "section":
        name = draw(st.sampled_from(SECTIONS))
        document[name] = draw(
            json_values.filter(lambda v: v is not None and not isinstance(v, list))
        )
        expected = [(p, f) for p, f in expected if not p.startswith(name)] + [(name, None)]
        maybe = True  # the rows of that section are gone, and references to them
    elif whole == "unknown section":
        document[draw(any_text.filter(lambda k: k not in SECTIONS))] = draw(junk)
        expected.append(("document", None))
    return document, expected, maybe


def reset(url: str, known: Data) -> None:
    """Empty the order tables and import ``known`` (the rows a file may refer to)."""
    with session_scope(url) as session:
        for model in (ClaimEvent, Claim, Order, Buyer, Shop):
            session.execute(delete(model))
        import_data(known, session, now=NOW)


def as_text(document: Any, how: str, cut: Optional[int]) -> Tuple[str, Callable[[str], Any]]:
    """Write ``document`` as a JSON or YAML file would hold it (cut short when asked)."""
    text = encode(document).decode("utf-8")
    parse: Callable[[str], Any] = parse_json
    if how == "yaml":
        try:
            dumped = yaml.safe_dump(document, allow_unicode=True)
            if yaml.safe_load(dumped) == document:
                text, parse = dumped, parse_yaml
        except yaml.YAMLError:
            pass
    if cut is not None:
        text = text[: cut % (len(text) + 1)]
    return text, parse


def known_rows() -> Data:
    """The rows already in the database: the small order set and a claim on its first order."""
    known = small_order_set()
    known["claims"] = [
        {
            "order_id": known["orders"][0]["order_id"],
            "type": "size_issue",
            "status": "requested",
            "opened_at": "2026-11-02T10:00:00+08:00",
        }
    ]
    return known


#: What the database holds before each file.
KNOWN = known_rows()


@pytest.fixture()
def known_url(migrated_url: str) -> str:
    """A database holding :data:`KNOWN`."""
    reset(migrated_url, KNOWN)
    return migrated_url


def check_refused(errors: List[ImportIssue], expected: Expected, maybe: bool) -> None:
    """The refusal names every issue the mutations certainly made, one line each."""
    assert errors and all("\n" not in str(error) for error in errors)
    found = {(error.position, error.field) for error in errors}
    positions = {position for position, _ in found}
    for position, name in expected:
        assert ((position, name) in found) if name else (position in positions), (
            position,
            name,
            errors,
        )
    assert expected or maybe, errors  # a clean document is accepted


def check_accepted(url: str, parsed: Data, report: ImportReport) -> None:
    """Every row is stored once, each claim once with its history, and again is a no-op."""
    for name in SECTIONS:
        counts = getattr(report, name)
        assert counts.inserted + counts.updated + counts.unchanged == len(parsed.get(name) or [])
    with session_scope(url) as session:
        claimed = session.scalars(select(Claim.order_id)).all()
        with_events = set(session.scalars(select(ClaimEvent.claim_id)))
        claims = set(session.scalars(select(Claim.id)))
        orders = set(session.scalars(select(Order.order_id)))
    assert len(claimed) == len(set(claimed))  # one claim per order
    assert with_events == claims  # every claim has its history
    assert {str(row["order_id"]).strip() for row in parsed.get("orders") or []} <= orders
    after = snapshot(url)
    with session_scope(url) as session:
        again = import_data(parsed, session, now=NOW)
    assert not again.changed and again.claim_events == 0  # idempotent
    assert snapshot(url) == after


@fuzz(80)
@given(data=st.data())
def test_any_document_is_imported_whole_or_refused_row_by_row(
    known_url: str, data: st.DataObject
) -> None:
    document, expected, maybe = data.draw(bad_documents(KNOWN), label="document")
    how = data.draw(st.sampled_from(["python", "json", "yaml"]), label="format")
    cut = data.draw(st.none() | st.integers(0), label="cut") if how != "python" else None
    before = snapshot(known_url)
    parsed = document
    if how != "python":
        text, parse = as_text(document, how, cut)
        try:
            parsed = parse(text)
        except ImportFormatError as exc:
            # A file cut short, or an escape the YAML loader refuses: one clear issue.
            assert cut is not None or how == "yaml", exc.errors
            assert len(exc.errors) == 1 and "\n" not in str(exc.errors[0])
            return
        if cut is not None:  # what is left of the file may be anything
            expected, maybe = [], True
    try:
        with session_scope(known_url) as session:
            report = import_data(parsed, session, now=NOW)
    except ImportFormatError as exc:
        check_refused(exc.errors, expected, maybe)
        assert snapshot(known_url) == before  # nothing half-written
        return
    try:
        assert not expected, expected
        check_accepted(known_url, parsed, report)
    finally:
        reset(known_url, KNOWN)
