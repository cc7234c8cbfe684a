"""Drop ``signal_sets``: declared in 0001, never written by any code path.

The signal cache indexes itself on disk (one directory per group, named by its cache
key: pool content hash, model identity, parameters), so a table mirroring it had no
writer and no reader. The downgrade recreates the empty table as 0001 made it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_signal_sets_pool_id"), table_name="signal_sets")
    op.drop_table("signal_sets")


def downgrade() -> None:
    op.create_table(
        "signal_sets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("pool_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pools.id"], name=op.f("fk_signal_sets_pool_id_pools"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_sets")),
    )
    op.create_index(op.f("ix_signal_sets_pool_id"), "signal_sets", ["pool_id"], unique=False)
