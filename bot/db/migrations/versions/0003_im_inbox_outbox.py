"""The store IM channel's durable inbox and outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:00:00

``im_inbox`` de-duplicates the platform's messages by ``msg_id`` and queues
them for the bot; ``im_outbox`` queues the bot's replies (one per inbound
message, unique ``reply_to``) until the platform accepted them.
"""

from __future__ import annotations

from typing import List, Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _queue_columns() -> List[sa.Column]:  # type: ignore[type-arg]
    """Return the columns both queues share (frozen copy of ImQueueMixin)."""
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
    ]


def upgrade() -> None:
    """Create both queues."""
    op.create_table(
        "im_inbox",
        *_queue_columns(),
        sa.Column("msg_id", sa.String(length=128), nullable=False),
        sa.Column("buyer_id", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_im_inbox")),
        sa.UniqueConstraint("msg_id", name=op.f("uq_im_inbox_msg_id")),
    )
    op.create_index(
        "ix_im_inbox_conversation_id_done_at", "im_inbox", ["conversation_id", "done_at"]
    )
    op.create_table(
        "im_outbox",
        *_queue_columns(),
        sa.Column("reply_to", sa.String(length=128), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_im_outbox")),
        sa.UniqueConstraint("reply_to", name=op.f("uq_im_outbox_reply_to")),
    )
    op.create_index(
        "ix_im_outbox_conversation_id_done_at", "im_outbox", ["conversation_id", "done_at"]
    )


def downgrade() -> None:
    """Drop both queues."""
    op.drop_index("ix_im_outbox_conversation_id_done_at", table_name="im_outbox")
    op.drop_table("im_outbox")
    op.drop_index("ix_im_inbox_conversation_id_done_at", table_name="im_inbox")
    op.drop_table("im_inbox")
