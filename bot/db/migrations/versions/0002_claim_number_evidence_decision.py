"""Claims get a number, an evidence checklist and the decision that allowed them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:00:00

Existing claims (imported) get the number ``AS`` + their order id, the form
:func:`bot.claim_flow.claim_number` gives (one claim per order, policy W8).
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: Frozen copy of the claim number prefix at this revision.
_PREFIX = "AS"


def upgrade() -> None:
    """Add the columns, number the existing claims, then require a number."""
    with op.batch_alter_table("claims") as batch:
        batch.add_column(sa.Column("number", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("decision", sa.JSON(), nullable=True))
    claims = sa.table("claims", sa.column("number", sa.String), sa.column("order_id", sa.String))
    op.execute(claims.update().values(number=sa.literal(_PREFIX) + claims.c.order_id))
    with op.batch_alter_table("claims") as batch:
        batch.alter_column("number", existing_type=sa.String(length=40), nullable=False)
        batch.create_unique_constraint(op.f("uq_claims_number"), ["number"])


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("claims") as batch:
        batch.drop_constraint(op.f("uq_claims_number"), type_="unique")
        batch.drop_column("decision")
        batch.drop_column("evidence")
        batch.drop_column("number")
