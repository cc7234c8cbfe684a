"""SQLAlchemy 2 declarative models of the store: the schema, and nothing else.

Only :mod:`autosel.store` imports this module; rows never leave the store (it returns
the frozen records of :mod:`autosel.store.records`). Types are portable: ``JSON`` columns,
:class:`~autosel.store.clock.UtcDateTime` timestamps, string states checked by CHECK
constraints. Every schema change goes through an Alembic revision in ``alembic/``; a
test fails when these models and the migrations drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from autosel.store.clock import UtcDateTime, db_now

# Deterministic constraint names: SQLite batch migrations need names to drop constraints.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JOB_STATES = ("queued", "leased", "running", "succeeded", "failed", "cancelled")
SEARCH_STATES = ("created", "running", "completed", "cancelled", "failed")
TRIAL_STATES = ("pending", "running", "complete", "failed", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


def _created() -> Mapped[datetime]:
    # A SQL-expression default: rendered inline in the INSERT, so the database clock
    # stamps the row and there is no server default for migrations to keep in sync.
    return mapped_column(default=db_now())


class Pool(Base):
    __tablename__ = "pools"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    rows: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    manifest: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _created()


class Search(Base):
    __tablename__ = "searches"
    __table_args__ = (CheckConstraint(_in("state", SEARCH_STATES), name="state"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    pool_id: Mapped[str | None] = mapped_column(ForeignKey("pools.id"), index=True)
    # The immutable per-search spec (second configuration tier); no method updates it.
    spec: Mapped[dict[str, Any]]
    spec_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="created")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("search_id", "number"),
        Index("ix_trials_search_fingerprint", "search_id", "fingerprint"),
        CheckConstraint(_in("state", TRIAL_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    recipe: Mapped[dict[str, Any]]
    recipe_hash: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state_vector: Mapped[list[Any]]
    prediction: Mapped[dict[str, Any] | None]
    origin: Mapped[str] = mapped_column(String(32))
    trajectory: Mapped[dict[str, Any] | None]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None]


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    device: Mapped[str] = mapped_column(String(200), default="")
    meta: Mapped[dict[str, Any]]
    registered_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = _created()


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The claim query: oldest queued job of the highest priority.
        Index("ix_jobs_claim", "state", "priority", "id"),
        Index("ix_jobs_search_state", "search_id", "state"),
        Index("ix_jobs_worker_state", "worker_id", "state"),
        CheckConstraint(_in("state", JOB_STATES), name="state"),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str | None] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"))
    trial_id: Mapped[int | None] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32), default="sft")
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker_id: Mapped[str | None] = mapped_column(ForeignKey("workers.id", ondelete="SET NULL"))
    # Fencing token of the current lease: every report must present it.
    lease_token: Mapped[str | None] = mapped_column(String(36))
    lease_seconds: Mapped[float | None] = mapped_column(Float)
    lease_expires_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    leased_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Result(Base):
    __tablename__ = "results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # unique: the database itself refuses a second result for a job.
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    trial_id: Mapped[int | None] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), index=True
    )
    worker_id: Mapped[str | None] = mapped_column(String(200))
    scores: Mapped[dict[str, Any]]
    utility: Mapped[float | None] = mapped_column(Float)
    costs: Mapped[dict[str, Any]]
    artifacts: Mapped[dict[str, Any]]
    # Per benchmark, the normalised primary score of each item (a list of floats).
    item_scores: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _created()


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    # sha256 hex of the token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]]
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Event(Base):
    """Append-only log; the store has no update or delete statement for this table."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_search_id_id", "search_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = _created()
    kind: Mapped[str] = mapped_column(String(64))
    # No foreign keys: the log outlives what it mentions.
    search_id: Mapped[str | None] = mapped_column(String(36))
    job_id: Mapped[int | None] = mapped_column(Integer)
    trial_id: Mapped[int | None] = mapped_column(Integer)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]]
