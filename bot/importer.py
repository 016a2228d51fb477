"""Import shops, buyers, orders and claims (shared/spec/orders.md).

A file is imported all or nothing: every row is validated first and every
problem is collected; if there is any, :class:`ImportFormatError` lists them
all and nothing is written. Otherwise the rows are upserted: a row equal to
the stored one is left alone, so importing the same file twice changes
nothing the second time.

Money never goes through a float: YAML and JSON numbers with a fraction are
read as :class:`~decimal.Decimal`, and a Python ``float`` price is rejected.
Unquoted YAML integers keep their source text, so an order id such as
``0123`` is not turned into an octal number.

Positions in error reports index the file's lists from 0: ``orders[3]`` is
the fourth order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    Type,
    TypeVar,
)

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    ValidationError,
    ValidationInfo,
)
from pydantic.functional_validators import PlainValidator
from sqlalchemy import insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.claim_flow import claim_number
from bot.db.models import (
    CATEGORIES,
    CLAIM_STATUSES,
    CLAIM_TYPES,
    NO_REASON_RETURN_EXCLUDED,
    ORDER_ID_MAX_LENGTH,
    ORDER_STATUSES,
    PARTY_ID_MAX_LENGTH,
    Buyer,
    Claim,
    ClaimEvent,
    Order,
    Shop,
)

#: Top-level keys of an import file, in the order they are processed.
SECTIONS = ("shops", "buyers", "orders", "claims")

#: Order statuses that imply the order was paid (``paid_at`` is required).
PAID_STATUSES = ("paid", "shipped", "delivered", "completed")

#: How far past the real current time a timestamp may lie (clock skew).
FUTURE_TOLERANCE = timedelta(days=1)

#: Largest price that fits ``Numeric(12, 2)``.
MAX_PRICE = Decimal("9999999999.99")

#: Ids per ``IN (...)`` query when reading existing rows.
CHUNK_SIZE = 900

#: Actor recorded on the claim events the importer writes.
IMPORT_ACTOR = "import"

_ORDER_ID_RE = re.compile(rf"[0-9]{{1,{ORDER_ID_MAX_LENGTH}}}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
#: Lone UTF-16 surrogates: a JSON or YAML escape can make them, UTF-8 cannot hold them.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_CENT = Decimal("0.01")


# --------------------------------------------------------------------------
# Errors and report


class ImportIssue(NamedTuple):
    """One problem found in an import file.

    Attributes:
        position: Where: ``orders[3]`` (a row, counted from 0), a section
            name, ``document``, or ``line L, column C`` for a syntax error.
        field: The field of the row (``price``), or ``""`` when the problem
            is not about one field.
        message: What is wrong, in English.
    """

    position: str
    field: str
    message: str

    def __str__(self) -> str:
        """Return the issue as one line: ``orders[3].price: message``."""
        where = f"{self.position}.{self.field}" if self.field else self.position
        return f"{where}: {self.message}"


class ImportFormatError(ValueError):
    """The data does not follow the import format; nothing was written.

    Attributes:
        errors: Every problem found, in file order.
        source: The file (or label) the data came from.
    """

    def __init__(self, errors: Sequence[ImportIssue], source: str = "<data>") -> None:
        """Create the error.

        Args:
            errors: Every problem found.
            source: The file (or label) the data came from.
        """
        self.errors: List[ImportIssue] = list(errors)
        self.source = source
        count = len(self.errors)
        first = f": {self.errors[0]}" if self.errors else ""
        super().__init__(f"{source}: {count} format error{'s' if count != 1 else ''}{first}")


@dataclass
class Counts:
    """How many rows of one kind an import inserted, updated or left alone."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        """Return ``N inserted, N updated, N unchanged``."""
        return f"{self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged"


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        source: The file (or label) imported.
        shops: Shop rows.
        buyers: Buyer rows.
        orders: Order rows.
        claims: Claim rows.
        claim_events: Claim events recorded (new claims and status changes).
    """

    source: str = "<data>"
    shops: Counts = field(default_factory=Counts)
    buyers: Counts = field(default_factory=Counts)
    orders: Counts = field(default_factory=Counts)
    claims: Counts = field(default_factory=Counts)
    claim_events: int = 0

    @property
    def changed(self) -> bool:
        """True when the import wrote anything."""
        return any(
            counts.inserted or counts.updated
            for counts in (self.shops, self.buyers, self.orders, self.claims)
        )

    def summary(self) -> str:
        """Return a one-line English summary of the counts."""
        return (
            f"orders: {self.orders}; claims: {self.claims}; shops: {self.shops}; "
            f"buyers: {self.buyers}; claim events recorded: {self.claim_events}"
        )


# --------------------------------------------------------------------------
# Reading YAML and JSON


class _SourceInt(int):
    """An integer read from YAML that remembers its source text."""

    source: str

    def __new__(cls, value: int, source: str) -> _SourceInt:
        """Create the integer ``value`` read from the text ``source``."""
        self = super().__new__(cls, value)
        self.source = source
        return self


_BaseLoader: Type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe YAML loader: decimal fractions, source-text integers, no duplicate keys."""


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    value = yaml.SafeLoader.construct_yaml_int(loader, node)
    return _SourceInt(value, str(node.value))


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = str(node.value).replace("_", "").strip()
    lowered = text.lower()
    if lowered in (".inf", "+.inf"):
        return Decimal("Infinity")
    if lowered == "-.inf":
        return Decimal("-Infinity")
    if lowered == ".nan":
        return Decimal("NaN")
    try:
        return Decimal(text)
    except InvalidOperation:  # e.g. sexagesimal 1:30.5: let YAML decide
        return yaml.SafeLoader.construct_yaml_float(loader, node)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Dict[Any, Any]:
    """Construct a mapping, refusing duplicate keys (PyYAML keeps the last)."""
    seen: Set[str] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = str(key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
    return loader.construct_mapping(node)


def _construct_yaml_map(
    loader: yaml.SafeLoader, node: yaml.MappingNode
) -> Iterator[Dict[Any, Any]]:
    data: Dict[Any, Any] = {}
    yield data
    data.update(_construct_mapping(loader, node))


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_yaml_map)


def _mark(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is None:
        return "document"
    return f"line {mark.line + 1}, column {mark.column + 1}"


def parse_yaml(text: str, source: str = "<data>") -> Any:
    """Parse YAML import data.

    Args:
        text: The document.
        source: The file name, for the error.

    Returns:
        The data (fractions as Decimal).

    Raises:
        ImportFormatError: The text is not one well-formed YAML document.
    """
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ImportFormatError(
            [ImportIssue(_mark(exc), "", f"not valid YAML: {problem}")], source
        ) from exc


def _json_pairs(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    result: Dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_json(text: str, source: str = "<data>") -> Any:
    """Parse JSON import data.

    Args:
        text: The document.
        source: The file name, for the error.

    Returns:
        The data (fractions as Decimal).

    Raises:
        ImportFormatError: The text is not well-formed JSON.
    """
    try:
        return json.loads(text, parse_float=Decimal, object_pairs_hook=_json_pairs)
    except json.JSONDecodeError as exc:
        position = f"line {exc.lineno}, column {exc.colno}"
        raise ImportFormatError(
            [ImportIssue(position, "", f"not valid JSON: {exc.msg}")], source
        ) from exc
    except ValueError as exc:
        raise ImportFormatError(
            [ImportIssue("document", "", f"not valid JSON: {exc}")], source
        ) from exc


def read_file(path: Path) -> Any:
    """Read and parse an import file.

    ``.yaml``/``.yml`` is YAML, ``.json`` is JSON; any other name is JSON if
    its first character opens a JSON object or list, YAML otherwise.

    Args:
        path: The file.

    Returns:
        The parsed data.

    Raises:
        OSError: The file cannot be read.
        ImportFormatError: It is not UTF-8, or not well-formed.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(
            [ImportIssue("document", "", f"not UTF-8 text (byte {exc.start})")], str(path)
        ) from exc
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        use_json = False
    elif suffix == ".json":
        use_json = True
    else:
        use_json = text.lstrip()[:1] in ("{", "[")
    return parse_json(text, str(path)) if use_json else parse_yaml(text, str(path))


# --------------------------------------------------------------------------
# Row models


def _show(value: Any) -> str:
    """Return a short printable form of an offending input value."""
    if isinstance(value, _SourceInt):
        text = value.source
    elif isinstance(value, (datetime, date)):
        text = value.isoformat()
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _integer_text(value: Any) -> Optional[str]:
    """Return the source text of an integer (None for anything else)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, _SourceInt):
        return value.source
    if isinstance(value, int):
        return str(value)
    return None


def _order_id(value: Any) -> str:
    text = _integer_text(value)
    if text is None and isinstance(value, str):
        text = value.strip()
    if text is None or not _ORDER_ID_RE.fullmatch(text):
        raise ValueError(
            f"must be a string of 1 to {ORDER_ID_MAX_LENGTH} digits, got {_show(value)}"
        )
    return text


def _text(max_length: int, required: bool) -> Callable[[Any], Optional[str]]:
    def validate(value: Any) -> Optional[str]:
        if value is None:
            if required:
                raise ValueError("must not be empty")
            return None
        text = _integer_text(value)
        if text is None:
            if not isinstance(value, str):
                raise ValueError(f"must be text, got {_show(value)}")
            text = value.strip()
        if not text:
            if required:
                raise ValueError("must not be empty")
            return None
        if len(text) > max_length:
            raise ValueError(f"must be at most {max_length} characters, got {len(text)}")
        if _CONTROL_RE.search(text):
            raise ValueError(f"must not contain control characters, got {_show(value)}")
        if _SURROGATE_RE.search(text):
            raise ValueError(f"must be valid Unicode (a lone surrogate escape), got {_show(value)}")
        return text

    return validate


_party_text = _text(PARTY_ID_MAX_LENGTH, True)


def _party_id(value: Any) -> str:
    text = _party_text(value)
    if text is None:  # pragma: no cover - a required text is never None
        raise ValueError("must not be empty")
    if " " in text or not text.isprintable():
        raise ValueError(f"must not contain spaces, got {_show(value)}")
    return text


def _one_of(values: Tuple[str, ...]) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        if not isinstance(value, str) or value.strip() not in values:
            raise ValueError(f"must be one of {', '.join(values)}; got {_show(value)}")
        return value.strip()

    return validate


def _integer(minimum: int, maximum: int) -> Callable[[Any], int]:
    def validate(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"must be a whole number, got {_show(value)}")
        if isinstance(value, int):
            number = int(value)
        elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            number = int(value.strip())
        else:
            raise ValueError(f"must be a whole number, got {_show(value)}")
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}, got {number}")
        return number

    return validate


def _price(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError(
            f'must be a decimal string such as "19.90", not a float, got {_show(value)}'
        )
    if isinstance(value, bool):
        raise ValueError(f"must be a decimal amount, got {_show(value)}")
    if isinstance(value, int):
        amount = Decimal(int(value))
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"must be a decimal amount, got {_show(value)}") from None
    else:
        raise ValueError(f"must be a decimal amount, got {_show(value)}")
    if not amount.is_finite():
        raise ValueError(f"must be a decimal amount, got {_show(value)}")
    if amount < 0:
        raise ValueError(f"must not be negative, got {_show(value)}")
    if amount > MAX_PRICE:  # checked first: quantize() fails on huge exponents
        raise ValueError(f"must be at most {MAX_PRICE}, got {_show(value)}")
    cents = amount.quantize(_CENT)
    if amount != cents:
        raise ValueError(f"must have at most 2 decimals, got {_show(value)}")
    return cents.copy_abs() if cents == 0 else cents  # no "-0.00"


def _timestamp(value: Any, info: ValidationInfo) -> Optional[datetime]:
    if value is None:
        return None
    example = "e.g. 2026-10-01T10:00:00+08:00"
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"must be an ISO 8601 date and time with a UTC offset ({example}), "
                f"got {_show(value)}"
            ) from None
    else:
        raise ValueError(
            f"must be an ISO 8601 date and time with a UTC offset ({example}), got {_show(value)}"
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"has no UTC offset ({example}), got {_show(value)}")
    try:
        moment.astimezone(timezone.utc)  # the database stores UTC
    except OverflowError:
        raise ValueError(f"lies outside the years 1 to 9999 in UTC, got {_show(value)}") from None
    latest: Optional[datetime] = (info.context or {}).get("latest")
    if latest is not None and moment > latest:
        raise ValueError(f"lies in the future, got {_show(value)}")
    return moment


OrderIdField = Annotated[str, PlainValidator(_order_id)]
PartyIdField = Annotated[str, PlainValidator(_party_id)]
Timestamp = Annotated[Optional[datetime], PlainValidator(_timestamp)]


def _required_timestamp(value: Any, info: ValidationInfo) -> datetime:
    moment = _timestamp(value, info)
    if moment is None:
        raise ValueError("must not be empty")
    return moment


RequiredTimestamp = Annotated[datetime, PlainValidator(_required_timestamp)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShopRow(_Row):
    """A row of ``shops``."""

    id: PartyIdField
    name: Annotated[str, PlainValidator(_text(200, True))]


class BuyerRow(_Row):
    """A row of ``buyers``."""

    id: PartyIdField
    nick: Annotated[Optional[str], PlainValidator(_text(100, False))] = None


class OrderRow(_Row):
    """A row of ``orders``."""

    order_id: OrderIdField
    buyer_id: PartyIdField
    shop_id: PartyIdField
    product: Annotated[str, PlainValidator(_text(500, True))]
    category: Annotated[str, PlainValidator(_one_of(CATEGORIES))]
    no_reason_return: Optional[StrictBool] = None
    free_shipping: StrictBool = True
    quantity: Annotated[int, PlainValidator(_integer(1, 1_000_000))]
    price: Annotated[Decimal, PlainValidator(_price)]
    status: Annotated[str, PlainValidator(_one_of(ORDER_STATUSES))]
    paid_at: Timestamp = None
    shipped_at: Timestamp = None
    delivered_at: Timestamp = None
    completed_at: Timestamp = None
    courier: Annotated[Optional[str], PlainValidator(_text(64, False))] = None
    tracking_no: Annotated[Optional[str], PlainValidator(_text(64, False))] = None
    usage_term_days: Annotated[Optional[int], PlainValidator(_integer(1, 3650))] = None

    def values(self) -> Dict[str, Any]:
        """Return the column values of the order (defaults applied)."""
        no_reason = self.no_reason_return
        if no_reason is None:
            no_reason = self.category not in NO_REASON_RETURN_EXCLUDED
        return {
            "order_id": self.order_id,
            "buyer_id": self.buyer_id,
            "shop_id": self.shop_id,
            "product": self.product,
            "category": self.category,
            "no_reason_return": no_reason,
            "free_shipping": self.free_shipping,
            "quantity": self.quantity,
            "price": self.price,
            "status": self.status,
            "paid_at": self.paid_at,
            "shipped_at": self.shipped_at,
            "delivered_at": self.delivered_at,
            "completed_at": self.completed_at,
            "courier": self.courier,
            "tracking_no": self.tracking_no,
            "usage_term_days": self.usage_term_days,
        }


class ClaimRow(_Row):
    """A row of ``claims``."""

    order_id: OrderIdField
    type: Annotated[str, PlainValidator(_one_of(CLAIM_TYPES))]
    status: Annotated[str, PlainValidator(_one_of(CLAIM_STATUSES))]
    opened_at: RequiredTimestamp
    return_tracking_no: Annotated[Optional[str], PlainValidator(_text(64, False))] = None
    reason: Annotated[Optional[str], PlainValidator(_text(2000, False))] = None

    def values(self) -> Dict[str, Any]:
        """Return the column values of the claim (without its id)."""
        return {
            "order_id": self.order_id,
            "type": self.type,
            "status": self.status,
            "opened_at": self.opened_at,
            "return_tracking_no": self.return_tracking_no,
            "reason": self.reason,
        }


# --------------------------------------------------------------------------
# Validation

RowT = TypeVar("RowT", bound=_Row)


@dataclass
class _Validated:
    """The valid rows of a file, each with its position."""

    shops: List[Tuple[str, ShopRow]] = field(default_factory=list)
    buyers: List[Tuple[str, BuyerRow]] = field(default_factory=list)
    orders: List[Tuple[str, OrderRow]] = field(default_factory=list)
    claims: List[Tuple[str, ClaimRow]] = field(default_factory=list)
    #: Ids the file declares, also by rows that have other errors (so that
    #: a reference to such a row is not reported as unknown as well).
    declared_shops: Set[str] = field(default_factory=set)
    declared_buyers: Set[str] = field(default_factory=set)
    declared_orders: Set[str] = field(default_factory=set)


def _declared(rows: Sequence[Any], key: str, check: Callable[[Any], str]) -> Set[str]:
    """Return the well-formed values of ``key`` among the raw ``rows``."""
    ids: Set[str] = set()
    for raw in rows:
        if isinstance(raw, Mapping) and key in raw:
            try:
                ids.add(check(raw[key]))
            except (ValueError, TypeError):
                continue
    return ids


def _field_name(key: Any) -> str:
    """Return a field name fit for a one-line report (odd keys are quoted)."""
    text = str(key)
    if text.isprintable() and 0 < len(text) <= 60:
        return text
    return _show(key)


def _pydantic_issues(position: str, error: ValidationError) -> Iterator[ImportIssue]:
    for item in error.errors(include_url=False):
        name = ".".join(_field_name(part) for part in item["loc"])
        kind = item["type"]
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = "is not a field of this format"
        else:
            message = str(item["msg"])
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            elif "input" in item:
                message = f"{message}, got {_show(item['input'])}"
        yield ImportIssue(position, name, message)


def _validate_rows(
    name: str,
    rows: Sequence[Any],
    model: Type[RowT],
    context: Dict[str, Any],
    issues: List[ImportIssue],
) -> List[Tuple[str, RowT]]:
    valid: List[Tuple[str, RowT]] = []
    for index, raw in enumerate(rows):
        position = f"{name}[{index}]"
        if not isinstance(raw, Mapping):
            issues.append(ImportIssue(position, "", "must be a mapping of field names to values"))
            continue
        try:
            valid.append((position, model.model_validate(raw, context=context)))
        except ValidationError as exc:
            issues.extend(_pydantic_issues(position, exc))
    return valid


def _sections(data: Any, issues: List[ImportIssue]) -> Dict[str, Sequence[Any]]:
    if data is None:
        issues.append(
            ImportIssue("document", "", "is empty; expected a mapping with " + ", ".join(SECTIONS))
        )
        return {}
    if not isinstance(data, Mapping):
        issues.append(
            ImportIssue(
                "document",
                "",
                f"must be a mapping with the keys {', '.join(SECTIONS)}; got {type(data).__name__}",
            )
        )
        return {}
    sections: Dict[str, Sequence[Any]] = {}
    for key in data:
        if key not in SECTIONS:
            issues.append(
                ImportIssue(
                    "document", _field_name(key), f"unknown section; use {', '.join(SECTIONS)}"
                )
            )
    for name in SECTIONS:
        value = data.get(name)
        if value is None:
            sections[name] = []
        elif isinstance(value, (list, tuple)):
            sections[name] = value
        else:
            issues.append(ImportIssue(name, "", f"must be a list, got {type(value).__name__}"))
            sections[name] = []
    return sections


def _duplicates(
    rows: Iterable[Tuple[str, Any]], key: Callable[[Any], str], field_name: str
) -> Iterator[ImportIssue]:
    first: Dict[str, str] = {}
    for position, row in rows:
        value = key(row)
        if value in first:
            yield ImportIssue(position, field_name, f"{value!r} is a duplicate of {first[value]}")
        else:
            first[value] = position


def _chunks(values: Sequence[str], size: int = CHUNK_SIZE) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _existing_ids(
    session: Session, column: InstrumentedAttribute[str], ids: Iterable[str]
) -> Set[str]:
    wanted = sorted(set(ids))
    found: Set[str] = set()
    for chunk in _chunks(wanted):
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


def _check_orders(valid: _Validated, session: Session, issues: List[ImportIssue]) -> None:
    for position, order in valid.orders:
        if order.status in PAID_STATUSES and order.paid_at is None:
            issues.append(
                ImportIssue(position, "paid_at", f"is required for a {order.status} order")
            )
        if order.status == "completed" and order.completed_at is None:
            issues.append(
                ImportIssue(position, "completed_at", "is required for a completed order")
            )
        if order.usage_term_days is not None and order.category != "virtual":
            issues.append(ImportIssue(position, "usage_term_days", "is only for virtual goods"))
    shop_ids = set(valid.declared_shops)
    buyer_ids = set(valid.declared_buyers)
    shop_ids |= _existing_ids(
        session, Shop.id, (o.shop_id for _, o in valid.orders if o.shop_id not in shop_ids)
    )
    buyer_ids |= _existing_ids(
        session, Buyer.id, (o.buyer_id for _, o in valid.orders if o.buyer_id not in buyer_ids)
    )
    for position, order in valid.orders:
        if order.buyer_id not in buyer_ids:
            issues.append(
                ImportIssue(
                    position,
                    "buyer_id",
                    f"unknown buyer {order.buyer_id!r}: neither in buyers nor in the database",
                )
            )
        if order.shop_id not in shop_ids:
            issues.append(
                ImportIssue(
                    position,
                    "shop_id",
                    f"unknown shop {order.shop_id!r}: neither in shops nor in the database",
                )
            )


def _check_claims(valid: _Validated, session: Session, issues: List[ImportIssue]) -> None:
    order_ids = set(valid.declared_orders)
    order_ids |= _existing_ids(
        session,
        Order.order_id,
        (c.order_id for _, c in valid.claims if c.order_id not in order_ids),
    )
    for position, claim in valid.claims:
        if claim.order_id not in order_ids:
            issues.append(
                ImportIssue(
                    position,
                    "order_id",
                    f"unknown order {claim.order_id!r}: neither in orders nor in the database",
                )
            )


def validate_data(
    data: Any, session: Session, now: Optional[datetime] = None
) -> Tuple[_Validated, List[ImportIssue]]:
    """Validate import data without writing anything.

    Args:
        data: Parsed import data.
        session: Session used to look up ids the data refers to.
        now: The current time (tests); the real time by default.

    Returns:
        The valid rows and every problem found.
    """
    issues: List[ImportIssue] = []
    sections = _sections(data, issues)
    valid = _Validated()
    if not sections:
        return valid, issues
    moment = now if now is not None else datetime.now(timezone.utc)
    context = {"latest": moment + FUTURE_TOLERANCE}
    valid.shops = _validate_rows("shops", sections["shops"], ShopRow, context, issues)
    valid.buyers = _validate_rows("buyers", sections["buyers"], BuyerRow, context, issues)
    valid.orders = _validate_rows("orders", sections["orders"], OrderRow, context, issues)
    valid.claims = _validate_rows("claims", sections["claims"], ClaimRow, context, issues)
    valid.declared_shops = _declared(sections["shops"], "id", _party_id)
    valid.declared_buyers = _declared(sections["buyers"], "id", _party_id)
    valid.declared_orders = _declared(sections["orders"], "order_id", _order_id)
    issues.extend(_duplicates(valid.shops, lambda row: row.id, "id"))
    issues.extend(_duplicates(valid.buyers, lambda row: row.id, "id"))
    issues.extend(_duplicates(valid.orders, lambda row: row.order_id, "order_id"))
    issues.extend(_duplicates(valid.claims, lambda row: row.order_id, "order_id"))
    _check_orders(valid, session, issues)
    _check_claims(valid, session, issues)
    order = {name: index for index, name in enumerate(SECTIONS)}

    def file_order(issue: ImportIssue) -> Tuple[int, int]:
        section, _, rest = issue.position.partition("[")
        index = int(rest.rstrip("]")) if rest.rstrip("]").isdigit() else -1
        return (order.get(section, -1), index)

    issues.sort(key=file_order)
    return valid, issues


# --------------------------------------------------------------------------
# Writing

#: Order columns an import writes besides the key ``order_id`` (the export
#: writes the same fields back, see :mod:`bot.exporter`).
ORDER_COLUMNS = (
    "buyer_id",
    "shop_id",
    "product",
    "category",
    "no_reason_return",
    "free_shipping",
    "quantity",
    "price",
    "status",
    "paid_at",
    "shipped_at",
    "delivered_at",
    "completed_at",
    "courier",
    "tracking_no",
    "usage_term_days",
)
_CLAIM_COLUMNS = ("type", "status", "opened_at", "return_tracking_no", "reason")


def _bulk_insert(model: Type[Any]) -> Any:
    """Return an ORM bulk INSERT of ``model`` that sends NULLs explicitly.

    Without ``render_nulls`` the ORM leaves out the None values of each row,
    so rows with different empty fields (a paid order has no ``shipped_at``)
    cannot share one executemany batch.
    """
    return insert(model).execution_options(render_nulls=True)


def _fetch(
    session: Session,
    key: InstrumentedAttribute[str],
    columns: Sequence[Any],
    ids: Sequence[str],
) -> Dict[str, Tuple[Any, ...]]:
    """Return ``{id: (column values...)}`` of the stored rows among ``ids``.

    Runs on the session's connection (plain rows, no ORM loading), by chunks
    of ids.
    """
    found: Dict[str, Tuple[Any, ...]] = {}
    connection = session.connection()
    for chunk in _chunks(sorted(set(ids))):
        for row in connection.execute(select(key, *columns).where(key.in_(chunk))):
            found[row[0]] = tuple(row[1:])
    return found


def _upsert(
    session: Session,
    model: Type[Any],
    key_name: str,
    column_names: Sequence[str],
    rows: Sequence[Dict[str, Any]],
    counts: Counts,
) -> None:
    """Insert new rows, update changed ones, count the unchanged ones."""
    key = getattr(model, key_name)
    columns = [getattr(model, name) for name in column_names]
    stored = _fetch(session, key, columns, [row[key_name] for row in rows])
    inserts: List[Dict[str, Any]] = []
    updates: List[Dict[str, Any]] = []
    for row in rows:
        old = stored.get(row[key_name])
        if old is None:
            inserts.append(row)
        elif old != tuple(row[name] for name in column_names):
            updates.append(row)
        else:
            counts.unchanged += 1
    if inserts:
        session.execute(_bulk_insert(model), inserts)
    if updates:
        session.execute(update(model), updates)
    counts.inserted += len(inserts)
    counts.updated += len(updates)


def _write_claims(
    session: Session,
    claims: Sequence[ClaimRow],
    report: ImportReport,
    now: datetime,
) -> None:
    stored = _fetch(
        session,
        Claim.order_id,
        [Claim.id, *(getattr(Claim, name) for name in _CLAIM_COLUMNS)],
        [claim.order_id for claim in claims],
    )
    inserts: List[Dict[str, Any]] = []
    updates: List[Dict[str, Any]] = []
    events: List[Dict[str, Any]] = []
    note = f"status imported from {report.source}"
    for claim in claims:
        values = claim.values()
        old = stored.get(claim.order_id)
        if old is None:
            inserts.append({**values, "number": claim_number(claim.order_id)})
            continue
        claim_id, old_values = old[0], old[1:]
        if old_values == tuple(values[name] for name in _CLAIM_COLUMNS):
            report.claims.unchanged += 1
            continue
        updates.append({"id": claim_id, **{name: values[name] for name in _CLAIM_COLUMNS}})
        if old_values[_CLAIM_COLUMNS.index("status")] != claim.status:
            events.append(
                {
                    "claim_id": claim_id,
                    "status": claim.status,
                    "at": now,
                    "actor": IMPORT_ACTOR,
                    "note": note,
                }
            )
    if inserts:
        session.execute(_bulk_insert(Claim), inserts)
        new_ids = _fetch(session, Claim.order_id, [Claim.id], [row["order_id"] for row in inserts])
        for row in inserts:
            # The format dates a claim only by opened_at: a new claim's status
            # is recorded as reached then (a later import's change: now).
            events.append(
                {
                    "claim_id": new_ids[row["order_id"]][0],
                    "status": row["status"],
                    "at": row["opened_at"],
                    "actor": IMPORT_ACTOR,
                    "note": note,
                }
            )
    if updates:
        session.execute(update(Claim), updates)
    if events:
        session.execute(_bulk_insert(ClaimEvent), events)
    report.claims.inserted += len(inserts)
    report.claims.updated += len(updates)
    report.claim_events += len(events)


def import_data(
    data: Any,
    session: Session,
    source: str = "<data>",
    *,
    now: Optional[datetime] = None,
) -> ImportReport:
    """Validate parsed import data and upsert it, all or nothing.

    Args:
        data: The parsed file: a mapping with ``shops``, ``buyers``,
            ``orders`` and ``claims`` lists (each optional).
        session: The unit of work to write in; the caller commits.
        source: The file name (or a label) for reports and claim events.
        now: The current time (tests); the real time by default. Timestamps
            more than a day after it are rejected.

    Returns:
        The counts of inserted, updated and unchanged rows.

    Raises:
        ImportFormatError: Any row breaks the format; nothing was written.
    """
    moment = now if now is not None else datetime.now(timezone.utc)
    session.flush()  # pending objects of the caller, before reading the stored rows
    valid, issues = validate_data(data, session, now=moment)
    if issues:
        raise ImportFormatError(issues, source)
    report = ImportReport(source=source)
    _upsert(
        session,
        Shop,
        "id",
        ["name"],
        [{"id": row.id, "name": row.name} for _, row in valid.shops],
        report.shops,
    )
    _upsert(
        session,
        Buyer,
        "id",
        ["nick"],
        [{"id": row.id, "nick": row.nick} for _, row in valid.buyers],
        report.buyers,
    )
    _upsert(
        session,
        Order,
        "order_id",
        ORDER_COLUMNS,
        [row.values() for _, row in valid.orders],
        report.orders,
    )
    _write_claims(session, [row for _, row in valid.claims], report, moment)
    return report


def import_file(path: Path, session: Session, *, now: Optional[datetime] = None) -> ImportReport:
    """Import a YAML or JSON file in the format of shared/spec/orders.md.

    Args:
        path: The file; ``.yaml``/``.yml`` or ``.json``, otherwise sniffed.
        session: The unit of work to write in; the caller commits.
        now: The current time (tests); the real time by default.

    Returns:
        The counts of inserted, updated and unchanged rows.

    Raises:
        OSError: The file cannot be read.
        ImportFormatError: The file is malformed or a row breaks the format;
            nothing was written.
    """
    data = read_file(path)
    return import_data(data, session, source=str(path), now=now)


__all__ = [
    "ORDER_COLUMNS",
    "ImportFormatError",
    "ImportIssue",
    "ImportReport",
    "import_data",
    "import_file",
    "parse_json",
    "parse_yaml",
    "read_file",
    "validate_data",
]
