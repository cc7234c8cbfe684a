"""Per-item scores of a result: stored with it, returned by get_result/results, and rows
written before the column existed read as ``{}`` after the migration (every backend)."""

from __future__ import annotations

from sqlalchemy import text

from alembic import command
from autosel.store import JobResult, JobSpec, SqlStore
from autosel.store.engine import alembic_config, make_engine, upgrade_schema

ITEMS = {"arithmetic": [1.0, -0.25, 0.5, 0.0], "dates": [0.125]}


def _finish(store: SqlStore, result: JobResult) -> int:
    store.register_worker("w1")
    sid = store.create_search("s", {"budget": 1}).id
    (job,) = store.create_jobs([JobSpec(payload={}, search_id=sid)])
    leased = store.claim_job("w1", 30)
    assert leased is not None
    store.complete_job(job.id, leased.lease_token, result)
    return job.id


def test_item_scores_round_trip(store: SqlStore) -> None:
    res = JobResult(scores={"arithmetic": 0.3}, utility=0.3, item_scores=ITEMS)
    job_id = _finish(store, res)
    got = store.get_result(job_id)
    assert got is not None and got.item_scores == ITEMS
    (listed,) = store.results()
    assert listed.item_scores == ITEMS and listed.utility == 0.3


def test_results_without_items_store_an_empty_mapping(store: SqlStore) -> None:
    job_id = _finish(store, JobResult(scores={"synthetic": 1.0}, utility=1.0))
    got = store.get_result(job_id)
    assert got is not None and got.item_scores == {}


def test_migration_fills_old_rows_with_empty_item_scores(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.upgrade(cfg, "0001")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:  # a result row as revision 0001 wrote it
            conn.execute(
                text(
                    "INSERT INTO jobs (id, kind, payload, state, priority, attempts, "
                    "max_attempts, cancel_requested, created_at) VALUES (1, 'sft', '{}', "
                    "'succeeded', 0, 1, 3, false, CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO results (job_id, scores, utility, costs, artifacts, created_at) "
                    "VALUES (1, '{\"a\": 0.5}', 0.5, '{}', '{}', CURRENT_TIMESTAMP)"
                )
            )
        assert upgrade_schema(engine) is True
    finally:
        engine.dispose()
    store = SqlStore(db_url)
    try:
        old = store.get_result(1)
        assert old is not None and old.scores == {"a": 0.5} and old.item_scores == {}
    finally:
        store.close()
