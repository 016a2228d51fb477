"""IM messages over their buyer's rate limit.

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-26 18:00:00

``im_inbox.rate_limited`` marks a message the channel found over its buyer's
rate limit: the worker answers it with the rate-limit notice instead of asking
the bot (or, when it is stored done, never answers it). Existing rows are not
rate limited.

Chained after 0006 (handoffs), which was written at the same time.
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add ``im_inbox.rate_limited`` (false for every existing row)."""
    with op.batch_alter_table("im_inbox") as batch:
        batch.add_column(
            sa.Column("rate_limited", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    """Drop ``im_inbox.rate_limited``."""
    with op.batch_alter_table("im_inbox") as batch:
        batch.drop_column("rate_limited")
