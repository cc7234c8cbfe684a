"""A trial of a cancelled search ends ``cancelled`` (it was called ``pruned``).

The trial state said "pruned" for what the job, the search and the API call cancelled;
one name now. Existing ``pruned`` rows become ``cancelled``; the downgrade turns them back.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = ("pending", "running", "complete", "failed", "pruned")
_NEW = ("pending", "running", "complete", "failed", "cancelled")


def _in(values: tuple[str, ...]) -> str:
    return f"state IN ({', '.join(repr(v) for v in values)})"


def _rename(before: str, after: str, allowed: tuple[str, ...]) -> None:
    # Drop the check, rename the rows, add the new check (SQLite copies the table twice).
    with op.batch_alter_table("trials") as batch:
        batch.drop_constraint(op.f("ck_trials_state"), type_="check")
    op.execute(f"UPDATE trials SET state = '{after}' WHERE state = '{before}'")
    with op.batch_alter_table("trials") as batch:
        batch.create_check_constraint(op.f("ck_trials_state"), _in(allowed))


def upgrade() -> None:
    _rename("pruned", "cancelled", _NEW)


def downgrade() -> None:
    _rename("cancelled", "pruned", _OLD)
