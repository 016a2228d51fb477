"""The agent assistant's feedback: what agents did with its suggestions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 12:00:00
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: Frozen copy of the feedback events at this revision.
_EVENTS = "'shown', 'clicked', 'edited', 'ignored'"


def upgrade() -> None:
    """Create the ``assist_feedback`` table and its indexes."""
    op.create_table(
        "assist_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("intent", sa.String(length=64), nullable=True),
        sa.CheckConstraint(f"event IN ({_EVENTS})", name=op.f("ck_assist_feedback_event")),
        sa.CheckConstraint(
            "rank IS NULL OR (rank >= 0 AND rank < 10)", name=op.f("ck_assist_feedback_rank_range")
        ),
        sa.CheckConstraint(
            "count IS NULL OR (count >= 0 AND count < 10)",
            name=op.f("ck_assist_feedback_count_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_feedback")),
    )
    op.create_index("ix_assist_feedback_request_id", "assist_feedback", ["request_id"])
    op.create_index("ix_assist_feedback_at", "assist_feedback", ["at"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_index("ix_assist_feedback_at", table_name="assist_feedback")
    op.drop_index("ix_assist_feedback_request_id", table_name="assist_feedback")
    op.drop_table("assist_feedback")
