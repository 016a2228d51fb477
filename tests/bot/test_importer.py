"""Tests of bot/importer.py: format validation and idempotent upserts."""

from __future__ import annotations

import copy
import json
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
from sqlalchemy import select

from bot.db.models import CATEGORIES, Claim, ClaimEvent, Order
from bot.db.session import session_scope
from bot.importer import (
    BuyerRow,
    ClaimRow,
    ImportFormatError,
    ImportIssue,
    ImportReport,
    OrderRow,
    ShopRow,
    import_data,
    import_file,
)
from tests.bot.db_helpers import DEMO_FILE, row_counts, snapshot

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
