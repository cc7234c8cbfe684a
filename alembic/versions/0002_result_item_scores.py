"""Results keep the per-item normalised scores of each benchmark (``item_scores``).

The final report bootstraps differences between evaluations over benchmark items, so a
result stores, per benchmark, the normalised primary value of every scored item
(``{"arithmetic": [0.3, -0.1, ...]}``). Rows written before this revision get ``{}``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server default fills the existing rows; it is dropped again because the models
    # have none (the store always writes the column).
    with op.batch_alter_table("results") as batch:
        batch.add_column(
            sa.Column("item_scores", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("results") as batch:
        batch.alter_column("item_scores", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.drop_column("item_scores")
