"""The order database: SQLAlchemy 2.0 typed models.

The tables hold what shops export (shops, buyers, orders) and the after-sales
claims opened on those orders, with the history of each claim's status.

Every time column uses :class:`UTCDateTime`, so that SQLite (which has no time
zones) and PostgreSQL both give back timezone-aware UTC datetimes. Prices are
``Numeric(12, 2)`` and come back as :class:`decimal.Decimal`.

Importing this module has no side effects: it only declares the schema.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Dict, List, Literal, Optional, Tuple, get_args

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

#: A product category (shared/spec/orders.md); the rule table names them too.
Category = Literal[
    "general",
    "durable_3bao",
    "nondurable_3bao",
    "virtual",
    "intimate_apparel",
    "custom_made",
    "fresh",
]
#: Product categories, in the order of shared/spec/orders.md.
CATEGORIES: Tuple[str, ...] = get_args(Category)

#: Categories whose orders default to ``no_reason_return: false`` (policy N2).
NO_REASON_RETURN_EXCLUDED = ("virtual", "custom_made", "fresh", "intimate_apparel")

#: Order statuses (shared/spec/orders.md).
ORDER_STATUSES = ("unpaid", "paid", "shipped", "delivered", "completed", "closed")

#: Claim statuses: the return flow in order, then the side exits.
CLAIM_STATUSES = (
    "requested",
    "seller_agreed",
    "return_address_sent",
    "buyer_shipped",
    "seller_signed",
    "refunded",
    "closed",
    "rejected",
    "escalated",
    "withdrawn",
)

#: Intent names that open a claim (shared/spec/intents.md); a claim's ``type``.
CLAIM_TYPES = (
    "refund_request",
    "return_goods",
    "exchange_goods",
    "size_issue",
    "quality_issue",
    "not_as_described",
    "wrong_item",
    "damaged_in_transit",
    "fake_goods",
    "virtual_goods_issue",
    "refund_progress",
)

#: Longest claim number (see :func:`bot.claim_flow.claim_number`).
CLAIM_NUMBER_MAX_LENGTH = 40

#: Longest order id: a string of 1 to this many ASCII digits.
ORDER_ID_MAX_LENGTH = 32
#: Longest shop or buyer id (a buyer id is a token subject, see bot/auth.py).
PARTY_ID_MAX_LENGTH = 128

#: Constraint names are deterministic so that migrations (and SQLite batch
#: mode, which needs names) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in_list(column: str, values: tuple[str, ...]) -> str:
    """Return the SQL text of a CHECK that ``column`` is one of ``values``.

    The values are constants of this module (never user input).
    """
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored as UTC on every backend.

    PostgreSQL keeps it as ``timestamp with time zone``; SQLite, which drops
    the offset, keeps the naive UTC wall time. Either way the value read back
    is an aware datetime in UTC, the same instant that was written.

    Writing a naive datetime raises :class:`ValueError`: its instant is
    unknown.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Dialect) -> Optional[datetime]:
        """Convert an aware datetime to UTC (naive UTC on SQLite)."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: a time zone is required")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: Optional[datetime], dialect: Dialect
    ) -> Optional[datetime]:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    @property
    def python_type(self) -> type[datetime]:
        """The Python type of the values: :class:`datetime.datetime`."""
        return datetime


class Base(DeclarativeBase):
    """Declarative base of shopbot's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Shop(Base):
    """A shop whose orders the bot serves."""

    __tablename__ = "shops"

    id: Mapped[str] = mapped_column(String(PARTY_ID_MAX_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))

    orders: Mapped[List[Order]] = relationship(back_populates="shop")

    def __repr__(self) -> str:
        """Return a short debugging representation."""
        return f"Shop(id={self.id!r})"


class Buyer(Base):
    """A buyer (the ``sub`` of a buyer token)."""

    __tablename__ = "buyers"

    id: Mapped[str] = mapped_column(String(PARTY_ID_MAX_LENGTH), primary_key=True)
    nick: Mapped[Optional[str]] = mapped_column(String(100))

    orders: Mapped[List[Order]] = relationship(back_populates="buyer")

    def __repr__(self) -> str:
        """Return a short debugging representation."""
        return f"Buyer(id={self.id!r})"


class Order(Base):
    """One order of one buyer in one shop."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_in_list("category", CATEGORIES), name="category"),
        CheckConstraint(_in_list("status", ORDER_STATUSES), name="status"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        Index("ix_orders_buyer_id", "buyer_id"),
    )

    order_id: Mapped[str] = mapped_column(String(ORDER_ID_MAX_LENGTH), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("buyers.id"))
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id"))
    product: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(32))
    no_reason_return: Mapped[bool] = mapped_column(Boolean)
    free_shipping: Mapped[bool] = mapped_column(Boolean)
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2, asdecimal=True))
    status: Mapped[str] = mapped_column(String(16))
    paid_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    shipped_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    delivered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    completed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    courier: Mapped[Optional[str]] = mapped_column(String(64))
    tracking_no: Mapped[Optional[str]] = mapped_column(String(64))
    usage_term_days: Mapped[Optional[int]] = mapped_column(Integer)

    buyer: Mapped[Buyer] = relationship(back_populates="orders")
    shop: Mapped[Shop] = relationship(back_populates="orders")
    claim: Mapped[Optional[Claim]] = relationship(back_populates="order")

    def __repr__(self) -> str:
        """Return a short debugging representation."""
        return f"Order(order_id={self.order_id!r}, status={self.status!r})"


class Claim(Base):
    """The after-sales dispute of an order: at most one per order (policy W8).

    ``number`` is the claim's human-friendly number; ``evidence`` the
    checklist of the E rule that applied; ``decision`` the rule engine's
    decision that allowed it (JSON), None for claims imported from a shop.
    """

    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("order_id"),
        UniqueConstraint("number"),
        CheckConstraint(_in_list("status", CLAIM_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(CLAIM_NUMBER_MAX_LENGTH))
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"))
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    return_tracking_no: Mapped[Optional[str]] = mapped_column(String(64))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    evidence: Mapped[Optional[List[str]]] = mapped_column(JSON)
    decision: Mapped[Optional[Dict[str, Any]]] = mapped_column(JSON)

    order: Mapped[Order] = relationship(back_populates="claim")
    events: Mapped[List[ClaimEvent]] = relationship(
        back_populates="claim", order_by="ClaimEvent.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        """Return a short debugging representation."""
        return f"Claim(id={self.id!r}, order_id={self.order_id!r}, status={self.status!r})"


class ClaimEvent(Base):
    """One recorded step of a claim: the status it reached, when and by whom."""

    __tablename__ = "claim_events"
    __table_args__ = (Index("ix_claim_events_claim_id", "claim_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[Optional[str]] = mapped_column(Text)

    claim: Mapped[Claim] = relationship(back_populates="events")

    def __repr__(self) -> str:
        """Return a short debugging representation."""
        return f"ClaimEvent(claim_id={self.claim_id!r}, status={self.status!r})"


#: Longest id of the IM platform (message, conversation, buyer).
IM_ID_MAX_LENGTH = 128
#: Longest error code kept on an IM queue row.
IM_ERROR_MAX_LENGTH = 64


class ImQueueMixin:
    """Columns of a durable, per-conversation ordered work queue.

    A row is pending while ``done_at`` is NULL. A worker claims it by writing
    its name in ``lease_owner`` and a deadline in ``lease_until``; a row whose
    lease ran out may be claimed again (its worker died). A failed attempt
    counts in ``attempts`` and waits until ``next_attempt_at``.
    """

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(IM_ID_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[Optional[str]] = mapped_column(String(64))
    lease_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    done_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    last_error: Mapped[Optional[str]] = mapped_column(String(IM_ERROR_MAX_LENGTH))


class ImInbox(ImQueueMixin, Base):
    """A buyer message received from the IM platform, to be answered once.

    The unique ``msg_id`` is the de-duplication of the platform's retries;
    it holds across restarts because it lives in the database. A message
    over its buyer's rate limit is ``rate_limited``: it is answered with the
    rate-limit notice instead of the bot, or, when the buyer already got the
    notice, stored done (``last_error`` ``rate_limited``) and never answered.
    """

    __tablename__ = "im_inbox"
    __table_args__ = (
        UniqueConstraint("msg_id"),
        Index("ix_im_inbox_conversation_id_done_at", "conversation_id", "done_at"),
    )

    msg_id: Mapped[str] = mapped_column(String(IM_ID_MAX_LENGTH))
    buyer_id: Mapped[str] = mapped_column(String(IM_ID_MAX_LENGTH))
    text: Mapped[str] = mapped_column(Text)
    rate_limited: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    def __repr__(self) -> str:
        """Return a short debugging representation (never the text)."""
        return f"ImInbox(id={self.id!r}, msg_id={self.msg_id!r})"


class ImOutbox(ImQueueMixin, Base):
    """The bot's reply to one inbound message, to be delivered exactly once.

    ``reply_to`` is unique: answering the same message again cannot queue a
    second reply. It is NULL for messages that answer no particular inbound
    message (a human agent's, see :mod:`bot.handoffs`). ``messages`` is the
    list of bot messages sent as is.
    """

    __tablename__ = "im_outbox"
    __table_args__ = (
        UniqueConstraint("reply_to"),
        Index("ix_im_outbox_conversation_id_done_at", "conversation_id", "done_at"),
    )

    reply_to: Mapped[Optional[str]] = mapped_column(String(IM_ID_MAX_LENGTH))
    messages: Mapped[List[Dict[str, Any]]] = mapped_column(JSON)

    def __repr__(self) -> str:
        """Return a short debugging representation (never the messages)."""
        return f"ImOutbox(id={self.id!r}, reply_to={self.reply_to!r})"


#: What the agent console reports about a suggestion (``POST /assist/feedback``).
FEEDBACK_EVENTS = ("shown", "clicked", "edited", "ignored")
#: Longest id of a suggestion set (``request_id`` of ``/assist/suggest``).
REQUEST_ID_MAX_LENGTH = 64


class AssistFeedback(Base):
    """One thing an agent did with the assistant's suggestions.

    ``shown`` records a suggestion set (``count`` suggestions, 0 when the
    assistant had none); ``clicked`` and ``edited`` name the suggestion by its
    ``rank`` (0: the best); ``ignored`` means the agent answered otherwise.
    """

    __tablename__ = "assist_feedback"
    __table_args__ = (
        CheckConstraint(_in_list("event", FEEDBACK_EVENTS), name="event"),
        CheckConstraint("rank IS NULL OR (rank >= 0 AND rank < 10)", name="rank_range"),
        CheckConstraint("count IS NULL OR (count >= 0 AND count < 10)", name="count_range"),
        Index("ix_assist_feedback_request_id", "request_id"),
        Index("ix_assist_feedback_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    request_id: Mapped[str] = mapped_column(String(REQUEST_ID_MAX_LENGTH))
    conversation_id: Mapped[str] = mapped_column(String(PARTY_ID_MAX_LENGTH))
    event: Mapped[str] = mapped_column(String(16))
    rank: Mapped[Optional[int]] = mapped_column(Integer)
    count: Mapped[Optional[int]] = mapped_column(Integer)
    intent: Mapped[Optional[str]] = mapped_column(String(64))

    def __repr__(self) -> str:
        """Return a short debugging representation."""
        return f"AssistFeedback(request_id={self.request_id!r}, event={self.event!r})"


#: Image types accepted as evidence (sniffed from the content).
EVIDENCE_MIME_TYPES = ("image/jpeg", "image/png", "image/webp")
#: Length of a stored evidence file's generated name (32 hex digits + extension).
STORED_NAME_MAX_LENGTH = 48
#: Longest evidence checklist item.
EVIDENCE_ITEM_MAX_LENGTH = 64


class EvidenceFile(Base):
    """A photo a buyer attached to a claim as evidence (凭证).

    The file lives in the upload folder under ``stored_name`` (generated: a
    random UUID and the extension of the sniffed type, never the buyer's
    name); ``item`` is the checklist item it ticks off, if any.
    """

    __tablename__ = "evidence_files"
    __table_args__ = (
        UniqueConstraint("stored_name"),
        CheckConstraint(_in_list("mime", EVIDENCE_MIME_TYPES), name="mime"),
        CheckConstraint("size > 0", name="size_positive"),
        Index("ix_evidence_files_claim_id", "claim_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"))
    buyer_id: Mapped[str] = mapped_column(ForeignKey("buyers.id"))
    stored_name: Mapped[str] = mapped_column(String(STORED_NAME_MAX_LENGTH))
    mime: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    item: Mapped[Optional[str]] = mapped_column(String(EVIDENCE_ITEM_MAX_LENGTH))

    def __repr__(self) -> str:
        """Return a short debugging representation."""
        return f"EvidenceFile(claim_id={self.claim_id!r}, stored_name={self.stored_name!r})"


#: Channels a handed-off conversation came through (Rasa input channel names).
HANDOFF_CHANNELS = ("shop", "im")
#: Why the bot handed a conversation to a person.
HANDOFF_REASONS = ("request_human", "complaint", "fallback", "intervention", "order_not_found")
#: A handoff is open until an agent releases it to the bot.
HANDOFF_STATUSES = ("open", "released")
#: Longest Rasa conversation id (the channels accept 128 characters plus a prefix).
CONVERSATION_ID_MAX_LENGTH = 160


class Handoff(Base):
    """A conversation the bot handed over to a human agent.

    While ``status`` is ``open`` the bot does not answer the conversation
    (Rasa's tracker is paused); an agent's release sets ``released``. At
    most one handoff per conversation is open at a time: the partial unique
    index ``uq_handoffs_open_conversation`` enforces it in the database.
    ``summary`` is the case an agent acts on (JSON: order facts, decision,
    evidence status, what the buyer said).
    """

    __tablename__ = "handoffs"
    __table_args__ = (
        CheckConstraint(_in_list("channel", HANDOFF_CHANNELS), name="channel"),
        CheckConstraint(_in_list("reason", HANDOFF_REASONS), name="reason"),
        CheckConstraint(_in_list("status", HANDOFF_STATUSES), name="status"),
        Index(
            "uq_handoffs_open_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_handoffs_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(CONVERSATION_ID_MAX_LENGTH))
    channel: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(PARTY_ID_MAX_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[Optional[str]] = mapped_column(String(64))
    problem: Mapped[Optional[str]] = mapped_column(String(64))
    summary: Mapped[Dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    released_by: Mapped[Optional[str]] = mapped_column(String(PARTY_ID_MAX_LENGTH))

    def __repr__(self) -> str:
        """Return a short debugging representation (never the summary)."""
        return f"Handoff(id={self.id!r}, status={self.status!r})"


#: The per-day figures of the conversations (``bot/event_counts.py``).
DAILY_FIGURES = ("messages", "intent", "fallbacks", "claims_opened", "handoffs")
#: Longest label of a figure (an intent, a claim type, a handoff reason).
FIGURE_LABEL_MAX_LENGTH = 64
#: Length of an event key (SHA-256, hex).
EVENT_KEY_LENGTH = 64


class DailyCount(Base):
    """How often something happened in the conversations of one China day.

    ``figure`` is one of :data:`DAILY_FIGURES`; ``label`` what it counts
    within it (the intent of ``intent``, the reason of ``handoffs``, the
    claim type of ``claims_opened``), "" for a plain count. The event
    consumer (``python -m bot.event_consumer``) adds to ``count``.
    """

    __tablename__ = "daily_counts"
    __table_args__ = (
        CheckConstraint(_in_list("figure", DAILY_FIGURES), name="figure"),
        CheckConstraint("count >= 0", name="count_not_negative"),
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    figure: Mapped[str] = mapped_column(String(16), primary_key=True)
    label: Mapped[str] = mapped_column(String(FIGURE_LABEL_MAX_LENGTH), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)

    def __repr__(self) -> str:
        """Return a short debugging representation."""
        return f"DailyCount(day={self.day!r}, figure={self.figure!r}, label={self.label!r})"


class DailyConversation(Base):
    """A conversation in which the buyer wrote on that China day (distinct per day)."""

    __tablename__ = "daily_conversations"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        String(CONVERSATION_ID_MAX_LENGTH), primary_key=True
    )

    def __repr__(self) -> str:
        """Return a short debugging representation."""
        return f"DailyConversation(day={self.day!r}, conversation_id={self.conversation_id!r})"


class EventReceipt(Base):
    """A conversation event already counted: its key, so a redelivery counts once.

    Only events that change a figure get a receipt; receipts older than a
    few days are pruned (a broker redelivers within minutes).
    """

    __tablename__ = "event_receipts"
    __table_args__ = (Index("ix_event_receipts_received_at", "received_at"),)

    key: Mapped[str] = mapped_column(String(EVENT_KEY_LENGTH), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        """Return a short debugging representation."""
        return f"EventReceipt(key={self.key!r}, day={self.day!r})"


__all__ = [
    "CATEGORIES",
    "CLAIM_NUMBER_MAX_LENGTH",
    "CLAIM_STATUSES",
    "CLAIM_TYPES",
    "CONVERSATION_ID_MAX_LENGTH",
    "DAILY_FIGURES",
    "EVENT_KEY_LENGTH",
    "EVIDENCE_ITEM_MAX_LENGTH",
    "EVIDENCE_MIME_TYPES",
    "FEEDBACK_EVENTS",
    "FIGURE_LABEL_MAX_LENGTH",
    "HANDOFF_CHANNELS",
    "HANDOFF_REASONS",
    "HANDOFF_STATUSES",
    "IM_ID_MAX_LENGTH",
    "NO_REASON_RETURN_EXCLUDED",
    "ORDER_ID_MAX_LENGTH",
    "ORDER_STATUSES",
    "PARTY_ID_MAX_LENGTH",
    "REQUEST_ID_MAX_LENGTH",
    "STORED_NAME_MAX_LENGTH",
    "AssistFeedback",
    "Base",
    "Buyer",
    "Category",
    "Claim",
    "ClaimEvent",
    "DailyConversation",
    "DailyCount",
    "EventReceipt",
    "EvidenceFile",
    "Handoff",
    "ImInbox",
    "ImOutbox",
    "ImQueueMixin",
    "Order",
    "Shop",
    "UTCDateTime",
]
