"""PostgreSQL fast path for the two calls every job makes: claim and complete.

Each becomes one statement, run in autocommit: writable CTEs chain the worker's
last-seen update, the job update, the result insert and the event insert that the
portable path (:mod:`autosel.store.sql`, used on SQLite, which has no data-modifying
CTEs) sends one by one inside a transaction. Same rows, same guards, same events, in one
atomic statement.

Why: a worker calls the store after minutes of GPU work, when its server backend has
gone idle, and every round trip then waits for the OS to schedule that backend. On the
2-core reference machine under load, a cold round trip took 0.56 ms median and 4.4 ms
p90 (0.025 ms hot); the portable path needs five per call, this one two (pre-ping and
the statement).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, Select, bindparam, func, insert, literal, select, true, update
from sqlalchemy.engine import Connection

from autosel.store.clock import db_now
from autosel.store.sql_base import EVENTS, RESULTS, WORKERS

_EVENT_COLUMNS = ["kind", "data", "search_id", "job_id", "trial_id", "worker_id"]


def claim_statement(claim: Any) -> Select:
    """One statement: touch the worker, lease a job (``claim``), log ``job.leased``.

    Returns one row when the worker is registered: ``worker_ok`` plus the job's columns
    (all NULL if no job was queued); no row when the worker is unknown.
    """
    touched = (
        update(WORKERS).where(WORKERS.c.id == bindparam("w"))
        .values(last_seen_at=db_now()).returning(WORKERS.c.id).cte("touched")
    )
    claimed = claim.where(select(touched.c.id).exists()).cte("claimed")
    logged = insert(EVENTS).from_select(
        _EVENT_COLUMNS,
        select(
            literal("job.leased"), func.json_build_object("attempt", claimed.c.attempts),
            claimed.c.search_id, claimed.c.id, claimed.c.trial_id, claimed.c.worker_id,
        ),
    ).cte("logged")
    return (
        select(touched.c.id.label("worker_ok"), *claimed.c)
        .select_from(touched.outerjoin(claimed, true()))
        .add_cte(logged)
    )


def complete_statement(finish: Any) -> Select:
    """One statement: finish the job (``finish``), insert its result, log ``job.succeeded``.

    Returns the result row, or no row when the lease token does not hold the job.
    """
    done = finish.cte("done")
    result = insert(RESULTS).from_select(
        [
            "job_id", "trial_id", "worker_id", "scores", "utility", "costs", "artifacts",
            "item_scores",
        ],
        select(
            done.c.id, done.c.trial_id, done.c.worker_id, bindparam("scores", type_=JSON),
            bindparam("utility", type_=Float), bindparam("costs", type_=JSON),
            bindparam("artifacts", type_=JSON), bindparam("item_scores", type_=JSON),
        ),
    ).returning(*RESULTS.c).cte("result")
    logged = insert(EVENTS).from_select(
        _EVENT_COLUMNS,
        select(
            literal("job.succeeded"), bindparam("event_data", type_=JSON), done.c.search_id,
            done.c.id, done.c.trial_id, done.c.worker_id,
        ),
    ).cte("logged")
    return select(result).add_cte(logged)


def execute_autocommit(engine: Any, stmt: Any, params: dict[str, Any]) -> list[Any]:
    """Run one statement in its own implicit transaction (no BEGIN/COMMIT round trips)."""
    conn: Connection
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        return list(conn.execute(stmt, params).all())
