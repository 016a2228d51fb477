"""Evidence photos that buyers attach to their claims.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: Frozen copy of the accepted image types at this revision.
_MIME_TYPES = "'image/jpeg', 'image/png', 'image/webp'"


def upgrade() -> None:
    """Create the ``evidence_files`` table and its index."""
    op.create_table(
        "evidence_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.String(length=128), nullable=False),
        sa.Column("stored_name", sa.String(length=48), nullable=False),
        sa.Column("mime", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=True),
        sa.CheckConstraint(f"mime IN ({_MIME_TYPES})", name=op.f("ck_evidence_files_mime")),
        sa.CheckConstraint("size > 0", name=op.f("ck_evidence_files_size_positive")),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_evidence_files_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_evidence_files_buyer_id_buyers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_files")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_evidence_files_stored_name")),
    )
    op.create_index("ix_evidence_files_claim_id", "evidence_files", ["claim_id"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_index("ix_evidence_files_claim_id", table_name="evidence_files")
    op.drop_table("evidence_files")
