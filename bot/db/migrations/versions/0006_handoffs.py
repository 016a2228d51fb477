"""Human handoffs; IM outbox rows that answer no inbound message.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:00:00

``handoffs`` records the conversations the bot handed over to a person, at
most one open per conversation (a partial unique index, on SQLite and
PostgreSQL alike). ``im_outbox.reply_to`` becomes nullable: an agent's
message to an IM buyer answers no particular inbound message, and the
platform receives it with ``"reply_to": null``.
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: Frozen copies of the value lists at this revision.
_CHANNELS = "'shop', 'im'"
_REASONS = "'request_human', 'complaint', 'fallback', 'intervention', 'order_not_found'"
_STATUSES = "'open', 'released'"
_OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    """Create ``handoffs`` and let ``im_outbox.reply_to`` be NULL."""
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=160), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("problem", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.CheckConstraint(f"channel IN ({_CHANNELS})", name=op.f("ck_handoffs_channel")),
        sa.CheckConstraint(f"reason IN ({_REASONS})", name=op.f("ck_handoffs_reason")),
        sa.CheckConstraint(f"status IN ({_STATUSES})", name=op.f("ck_handoffs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    op.create_index(
        "uq_handoffs_open_conversation",
        "handoffs",
        ["conversation_id"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_index("ix_handoffs_status_created_at", "handoffs", ["status", "created_at"])
    with op.batch_alter_table("im_outbox") as batch:
        batch.alter_column("reply_to", existing_type=sa.String(length=128), nullable=True)


def downgrade() -> None:
    """Drop ``handoffs``; agents' IM messages get a made-up ``reply_to``."""
    op.execute(
        "UPDATE im_outbox SET reply_to = 'agent-' || CAST(id AS VARCHAR(20)) WHERE reply_to IS NULL"
    )
    with op.batch_alter_table("im_outbox") as batch:
        batch.alter_column("reply_to", existing_type=sa.String(length=128), nullable=False)
    op.drop_index("ix_handoffs_status_created_at", table_name="handoffs")
    op.drop_index("uq_handoffs_open_conversation", table_name="handoffs")
    op.drop_table("handoffs")
