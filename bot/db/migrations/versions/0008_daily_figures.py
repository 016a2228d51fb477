"""Per-day figures of the conversations, fed by the event consumer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 01:00:00

``daily_counts`` holds one counter per China day, figure and label (an
intent, a claim type, a handoff reason); ``daily_conversations`` the
conversations a buyer wrote in that day (distinct); ``event_receipts`` the
keys of the events already counted, so that a message RabbitMQ delivers
again counts once.
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: Frozen copy of the figure list at this revision.
_FIGURES = "'messages', 'intent', 'fallbacks', 'claims_opened', 'handoffs'"


def upgrade() -> None:
    """Create ``daily_counts``, ``daily_conversations`` and ``event_receipts``."""
    op.create_table(
        "daily_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("figure", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint(f"figure IN ({_FIGURES})", name=op.f("ck_daily_counts_figure")),
        sa.CheckConstraint("count >= 0", name=op.f("ck_daily_counts_count_not_negative")),
        sa.PrimaryKeyConstraint("day", "figure", "label", name=op.f("pk_daily_counts")),
    )
    op.create_table(
        "daily_conversations",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("conversation_id", sa.String(length=160), nullable=False),
        sa.PrimaryKeyConstraint("day", "conversation_id", name=op.f("pk_daily_conversations")),
    )
    op.create_table(
        "event_receipts",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_event_receipts")),
    )
    op.create_index("ix_event_receipts_received_at", "event_receipts", ["received_at"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index("ix_event_receipts_received_at", table_name="event_receipts")
    op.drop_table("event_receipts")
    op.drop_table("daily_conversations")
    op.drop_table("daily_counts")
