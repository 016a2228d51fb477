"""Initial schema: shops, buyers, orders, claims, claim events.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 19:14:39
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Frozen copies of the value lists at this revision (a later change of the
# lists needs its own revision).
_CATEGORIES = (
    "'general', 'durable_3bao', 'nondurable_3bao', 'virtual', "
    "'intimate_apparel', 'custom_made', 'fresh'"
)
_ORDER_STATUSES = "'unpaid', 'paid', 'shipped', 'delivered', 'completed', 'closed'"
_CLAIM_STATUSES = (
    "'requested', 'seller_agreed', 'return_address_sent', 'buyer_shipped', "
    "'seller_signed', 'refunded', 'closed', 'rejected', 'escalated', 'withdrawn'"
)


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "buyers",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("nick", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buyers")),
    )
    op.create_table(
        "shops",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shops")),
    )
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("buyer_id", sa.String(length=128), nullable=False),
        sa.Column("shop_id", sa.String(length=128), nullable=False),
        sa.Column("product", sa.String(length=500), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("no_reason_return", sa.Boolean(), nullable=False),
        sa.Column("free_shipping", sa.Boolean(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("courier", sa.String(length=64), nullable=True),
        sa.Column("tracking_no", sa.String(length=64), nullable=True),
        sa.Column("usage_term_days", sa.Integer(), nullable=True),
        sa.CheckConstraint(f"category IN ({_CATEGORIES})", name=op.f("ck_orders_category")),
        sa.CheckConstraint(f"status IN ({_ORDER_STATUSES})", name=op.f("ck_orders_status")),
        sa.CheckConstraint("price >= 0", name=op.f("ck_orders_price_not_negative")),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_orders_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_orders_buyer_id_buyers")
        ),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_orders_shop_id_shops")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
    )
    op.create_index("ix_orders_buyer_id", "orders", ["buyer_id"], unique=False)
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("return_tracking_no", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(f"status IN ({_CLAIM_STATUSES})", name=op.f("ck_claims_status")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name=op.f("fk_claims_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
        sa.UniqueConstraint("order_id", name=op.f("uq_claims_order_id")),
    )
    op.create_table(
        "claim_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_claim_events_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_events")),
    )
    op.create_index("ix_claim_events_claim_id", "claim_events", ["claim_id"], unique=False)


def downgrade() -> None:
    """Drop every table."""
    op.drop_index("ix_claim_events_claim_id", table_name="claim_events")
    op.drop_table("claim_events")
    op.drop_table("claims")
    op.drop_index("ix_orders_buyer_id", table_name="orders")
    op.drop_table("orders")
    op.drop_table("shops")
    op.drop_table("buyers")
