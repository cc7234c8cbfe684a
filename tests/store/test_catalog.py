"""Conformance: pools, signal sets, searches, trials, API tokens and the event log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from autosel.errors import NotFoundError
from autosel.store import PoolRecord, SqlStore, TrialSpec
from autosel.store.clock import UtcDateTime
from autosel.store.models import ApiToken


def _pool(rows: int = 10) -> PoolRecord:
    return PoolRecord(id="p1", name="demo", content_hash="c" * 64, rows=rows,
                      path="/pools/p1", manifest={"rows": rows})


def test_pools(store: SqlStore) -> None:
    store.put_pool(_pool())
    stored = store.put_pool(_pool(rows=12))  # idempotent by id, updates in place
    assert stored.rows == 12 and stored.created_at.tzinfo is UTC
    assert [p.id for p in store.pools()] == ["p1"]
    assert store.get_pool("p1").manifest == {"rows": 12}
    with pytest.raises(NotFoundError, match="pool 'p2'"):
        store.get_pool("p2")


def test_search_spec_is_stored_with_a_canonical_hash(store: SqlStore) -> None:
    store.put_pool(_pool())
    a = store.create_search("a", {"budget": 8, "seed": 1}, pool_id="p1")
    b = store.create_search("b", {"seed": 1, "budget": 8})
    assert a.spec_hash == b.spec_hash and a.id != b.id and a.state == "created"
    assert store.get_search(a.id).spec == {"budget": 8, "seed": 1}
    running = store.set_search_state(a.id, "running")
    assert running.state == "running" and running.updated_at >= a.updated_at
    assert [s.id for s in store.searches(state="running")] == [a.id]
    assert {s.id for s in store.searches()} == {a.id, b.id}


def test_search_references_resolve_to_one_id(store: SqlStore) -> None:
    """Id, unique prefix (6+ characters, a trailing ellipsis ignored) or unique name; an
    ambiguous or too short reference names what would be accepted, never guesses."""
    from autosel.store.base import match_search_ref

    a = store.create_search("alpha", {}, search_id="abcdef12-0000")
    b = store.create_search("beta", {}, search_id="abcdef34-0000")
    store.create_search("twin", {}, search_id="99999999-0001")
    store.create_search("twin", {}, search_id="99999999-0002")
    for ref, want in [
        (a.id, a.id), ("abcdef1", a.id), ("abcdef3…", b.id), ("beta", b.id), (" alpha ", a.id)
    ]:
        assert store.resolve_search_id(ref) == want, ref
        assert match_search_ref(ref, store.searches()) == want, ref  # the base-class rule
    with pytest.raises(NotFoundError, match="ambiguous.*abcdef12-0000.*abcdef34-0000"):
        store.resolve_search_id("abcdef")
    with pytest.raises(NotFoundError, match="ambiguous"):
        store.resolve_search_id("twin")
    with pytest.raises(NotFoundError, match="at least 6 characters"):
        store.resolve_search_id("abc")  # a prefix too short to mean one search
    with pytest.raises(NotFoundError, match="at least 6 characters"):
        store.resolve_search_id("abcdef%")  # LIKE wildcards are literal characters


def test_trials_are_numbered_per_search(store: SqlStore) -> None:
    s1 = store.create_search("s1", {}).id
    s2 = store.create_search("s2", {}).id
    spec = TrialSpec(recipe={"steps": []}, recipe_hash="r" * 64, fingerprint="f1",
                     state_vector=(0.5, 1.0, 0.25), origin="warmup",
                     prediction={"mean": 0.1}, trajectory={"parent": None})
    t0 = store.add_trial(s1, spec)
    t1 = store.add_trial(s1, TrialSpec(**{**spec.__dict__, "fingerprint": "f2"}))
    u0 = store.add_trial(s2, spec)
    assert (t0.number, t1.number, u0.number) == (0, 1, 0)
    assert t0.state_vector == (0.5, 1.0, 0.25) and t0.state == "pending"
    assert [t.id for t in store.trials(s1, fingerprint="f2")] == [t1.id]

    done = store.update_trial(t0.id, state="complete", score=0.42)
    assert done.score == 0.42 and done.finished_at is not None
    assert store.update_trial(t0.id, prediction={"mean": 0.2}).prediction == {"mean": 0.2}
    assert store.get_trial(t0.id).recipe == {"steps": []}
    with pytest.raises(NotFoundError):
        store.update_trial(999, state="failed")
    with pytest.raises(NotFoundError):
        store.add_trial("missing", spec)


def test_tokens_keep_only_a_hash(store: SqlStore) -> None:
    token, rec = store.create_token("ci", scopes=["worker", "read", "worker"])
    assert rec.scopes == ("read", "worker") and rec.last_used_at is None
    with store.engine.connect() as conn:
        stored = conn.execute(select(ApiToken.__table__)).one()._mapping
    assert token not in {str(v) for v in stored.values()}
    assert len(stored["token_hash"]) == 64

    used = store.verify_token(token)
    assert used is not None and used.id == rec.id and used.last_used_at is not None
    assert store.verify_token(token + "x") is None
    revoked = store.revoke_token(rec.id)
    assert revoked.revoked_at is not None
    assert store.verify_token(token) is None
    assert store.revoke_token(rec.id).revoked_at == revoked.revoked_at  # stays revoked
    assert [t.id for t in store.tokens()] == [rec.id]


def test_event_log_appends_and_reads_since(store: SqlStore) -> None:
    sid = store.create_search("s", {}).id
    first = store.append_event("note", {"msg": "hello"}, search_id=sid)
    second = store.append_event("note", {"msg": "other"})
    assert second.id > first.id and first.created_at <= second.created_at
    assert [e.id for e in store.events(first.id)] == [second.id]
    mine = store.events(search_id=sid)
    assert [e.kind for e in mine] == ["search.created", "note"]
    assert mine[1].data == {"msg": "hello"}
    assert len(store.events(limit=1)) == 1
    assert store.last_event_id() == second.id


def test_last_event_id_of_an_empty_log_is_zero(store: SqlStore) -> None:
    assert store.last_event_id() == 0


def test_timestamps_are_utc_and_naive_ones_are_refused(store: SqlStore) -> None:
    stamped = store.append_event("x").created_at
    assert stamped.tzinfo is UTC
    # Database clock and this process's clock are the same machine's: they must agree,
    # which they would not if either side were read as local time.
    assert abs((datetime.now(UTC) - stamped).total_seconds()) < 5
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2025, 1, 1), store.engine.dialect)
