"""The SQL store's catalog half: pools, searches, trials, API tokens, events."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, or_, select, update

from autosel.errors import NotFoundError
from autosel.store.base import MIN_SEARCH_PREFIX, InvalidStateError, match_search_ref
from autosel.store.clock import db_now
from autosel.store.records import (
    FINAL_TRIAL_STATES,
    EventRecord,
    PoolRecord,
    SearchRecord,
    SearchState,
    TokenRecord,
    TrialRecord,
    TrialSpec,
    TrialState,
)
from autosel.store.sql_base import (
    EVENTS,
    POOLS,
    SEARCHES,
    TOKENS,
    TRIALS,
    SqlBase,
    canonical_hash,
    to_record,
)

_TOKEN_PREFIX = "asl_"


def token_hash(token: str) -> str:
    """What the store keeps of an API token: its sha256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


class SqlCatalog(SqlBase):
    """Catalog, searches, trials, tokens and the event log (see :class:`Store`)."""

    # -- pools and signal sets -------------------------------------------------------------
    def put_pool(self, pool: PoolRecord) -> PoolRecord:
        values = {
            "id": pool.id, "name": pool.name, "content_hash": pool.content_hash,
            "rows": pool.rows, "path": pool.path, "manifest": pool.manifest,
        }
        with self._write() as conn:
            conn.execute(self._upsert(POOLS, values, "id"))
            return to_record(PoolRecord, conn.execute(select(POOLS).filter_by(id=pool.id)).one())

    def get_pool(self, pool_id: str) -> PoolRecord:
        with self._read() as conn:
            row = conn.execute(select(POOLS).filter_by(id=pool_id)).first()
        if row is None:
            raise NotFoundError(f"pool {pool_id!r} is not in the store")
        return to_record(PoolRecord, row)

    def pools(self) -> list[PoolRecord]:
        with self._read() as conn:
            rows = conn.execute(select(POOLS).order_by(POOLS.c.created_at, POOLS.c.id)).all()
        return [to_record(PoolRecord, r) for r in rows]

    # -- searches --------------------------------------------------------------------------
    def create_search(
        self, name: str, spec: dict[str, Any], *, pool_id: str | None = None,
        search_id: str | None = None,
    ) -> SearchRecord:
        sid = search_id or str(uuid.uuid4())
        values = {
            "id": sid, "name": name, "pool_id": pool_id, "spec": spec,
            "spec_hash": canonical_hash(spec), "state": "created",
        }
        with self._write() as conn:
            row = conn.execute(insert(SEARCHES).values(**values).returning(*SEARCHES.c)).one()
            self._log(conn, "search.created", {"name": name}, search_id=sid)
        return to_record(SearchRecord, row)

    def get_search(self, search_id: str) -> SearchRecord:
        with self._read() as conn:
            row = conn.execute(select(SEARCHES).filter_by(id=search_id)).first()
        if row is None:
            raise NotFoundError(f"search {search_id!r} is not in the store")
        return to_record(SearchRecord, row)

    def resolve_search_id(self, ref: str) -> str:
        # Same rule as the base class, without loading every search: an exact id first,
        # then the few searches whose id starts with / whose name equals the reference.
        key = ref.strip().rstrip("…").rstrip(".")
        with self._read() as conn:
            if conn.execute(select(SEARCHES.c.id).filter_by(id=key)).first() is not None:
                return key
            cond = SEARCHES.c.name == key
            if len(key) >= MIN_SEARCH_PREFIX:
                cond = or_(SEARCHES.c.id.startswith(key, autoescape=True), cond)
            rows = conn.execute(select(SEARCHES).where(cond).limit(11)).all()
        return match_search_ref(ref, [to_record(SearchRecord, r) for r in rows])

    def searches(self, *, state: SearchState | None = None) -> list[SearchRecord]:
        stmt = select(SEARCHES).order_by(SEARCHES.c.created_at, SEARCHES.c.id)
        if state is not None:
            stmt = stmt.filter_by(state=state)
        with self._read() as conn:
            return [to_record(SearchRecord, r) for r in conn.execute(stmt)]

    def set_search_state(self, search_id: str, state: SearchState) -> SearchRecord:
        with self._write() as conn:
            current = self._lock_search(conn, search_id)
            if current == "cancelled" and state != "cancelled":
                raise InvalidStateError(
                    f"search {search_id!r} is cancelled; it cannot become {state!r}"
                )
            row = conn.execute(
                update(SEARCHES).filter_by(id=search_id)
                .values(state=state, updated_at=db_now()).returning(*SEARCHES.c)
            ).one()
            if current != state:
                self._log(conn, f"search.{state}", {"from": current}, search_id=search_id)
        return to_record(SearchRecord, row)

    @staticmethod
    def _lock_search(conn: Any, search_id: str, *, share: bool = False) -> str:
        """Lock a search row for the transaction (PostgreSQL) and return its state."""
        stmt = select(SEARCHES.c.state).filter_by(id=search_id).with_for_update(read=share)
        state = conn.execute(stmt).scalar()
        if state is None:
            raise NotFoundError(f"search {search_id!r} is not in the store")
        return str(state)

    # -- trials ----------------------------------------------------------------------------
    def add_trial(self, search_id: str, trial: TrialSpec) -> TrialRecord:
        with self._write() as conn:
            # The search lock serialises numbering between concurrent schedulers.
            self._lock_search(conn, search_id)
            last = conn.execute(
                select(func.max(TRIALS.c.number)).filter_by(search_id=search_id)
            ).scalar()
            values = {
                "search_id": search_id, "number": 0 if last is None else int(last) + 1,
                "recipe": trial.recipe, "recipe_hash": trial.recipe_hash,
                "fingerprint": trial.fingerprint,
                "state_vector": [float(x) for x in trial.state_vector],
                "prediction": trial.prediction, "origin": trial.origin,
                "trajectory": trial.trajectory, "state": "pending",
            }
            row = conn.execute(insert(TRIALS).values(**values).returning(*TRIALS.c)).one()
            self._log(
                conn, "trial.created", {"number": row.number, "origin": trial.origin},
                search_id=search_id, trial_id=row.id,
            )
        return to_record(TrialRecord, row)

    def update_trial(
        self, trial_id: int, *, state: TrialState | None = None, score: float | None = None,
        prediction: dict[str, Any] | None = None,
    ) -> TrialRecord:
        values: dict[str, Any] = {}
        if state is not None:
            values["state"] = state
            values["finished_at"] = db_now() if state in FINAL_TRIAL_STATES else None
        if score is not None:
            values["score"] = float(score)
        if prediction is not None:
            values["prediction"] = prediction
        if not values:
            return self.get_trial(trial_id)
        with self._write() as conn:
            stmt = update(TRIALS).filter_by(id=trial_id).values(**values).returning(*TRIALS.c)
            row = conn.execute(stmt).first()
            if row is None:
                raise NotFoundError(f"trial {trial_id} is not in the store")
            if state is not None:
                self._log(
                    conn, f"trial.{state}", {"score": row.score},
                    search_id=row.search_id, trial_id=trial_id,
                )
        return to_record(TrialRecord, row)

    def get_trial(self, trial_id: int) -> TrialRecord:
        with self._read() as conn:
            row = conn.execute(select(TRIALS).filter_by(id=trial_id)).first()
        if row is None:
            raise NotFoundError(f"trial {trial_id} is not in the store")
        return to_record(TrialRecord, row)

    def trials(self, search_id: str, *, fingerprint: str | None = None) -> list[TrialRecord]:
        stmt = select(TRIALS).filter_by(search_id=search_id).order_by(TRIALS.c.number)
        if fingerprint is not None:
            stmt = stmt.filter_by(fingerprint=fingerprint)
        with self._read() as conn:
            return [to_record(TrialRecord, r) for r in conn.execute(stmt)]

    # -- API tokens ------------------------------------------------------------------------
    def create_token(self, name: str, scopes: Sequence[str] = ()) -> tuple[str, TokenRecord]:
        token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
        values = {"name": name, "token_hash": token_hash(token), "scopes": sorted(set(scopes))}
        with self._write() as conn:
            row = conn.execute(insert(TOKENS).values(**values).returning(*TOKENS.c)).one()
            self._log(conn, "token.created", {"token_id": row.id, "name": name})
        return token, to_record(TokenRecord, row)

    def verify_token(self, token: str) -> TokenRecord | None:
        stmt = (
            update(TOKENS)
            .where(TOKENS.c.token_hash == token_hash(token), TOKENS.c.revoked_at.is_(None))
            .values(last_used_at=db_now()).returning(*TOKENS.c)
        )
        with self._write() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else to_record(TokenRecord, row)

    def revoke_token(self, token_id: int) -> TokenRecord:
        with self._write() as conn:
            stmt = (
                update(TOKENS).filter_by(id=token_id)
                .values(revoked_at=func.coalesce(TOKENS.c.revoked_at, db_now()))
                .returning(*TOKENS.c)
            )
            row = conn.execute(stmt).first()
            if row is None:
                raise NotFoundError(f"API token {token_id} is not in the store")
            self._log(conn, "token.revoked", {"token_id": token_id})
        return to_record(TokenRecord, row)

    def tokens(self) -> list[TokenRecord]:
        with self._read() as conn:
            rows = conn.execute(select(TOKENS).order_by(TOKENS.c.id)).all()
        return [to_record(TokenRecord, r) for r in rows]

    # -- event log -------------------------------------------------------------------------
    def append_event(
        self, kind: str, data: dict[str, Any] | None = None, *, search_id: str | None = None,
        job_id: int | None = None, trial_id: int | None = None, worker_id: str | None = None,
    ) -> EventRecord:
        stmt = insert(EVENTS).values(
            kind=kind, data=data or {}, search_id=search_id, job_id=job_id,
            trial_id=trial_id, worker_id=worker_id,
        ).returning(*EVENTS.c)
        with self._write() as conn:
            return to_record(EventRecord, conn.execute(stmt).one())

    def events(
        self,
        since_id: int = 0,
        *,
        search_id: str | None = None,
        limit: int = 1000,
        kinds: Sequence[str] | None = None,
    ) -> list[EventRecord]:
        # On PostgreSQL ids come from a sequence at insert time, so a reader polling
        # with since_id can, rarely, see id n+1 commit before id n; consumers that need
        # every event re-read a short window behind their cursor.
        stmt = select(EVENTS).where(EVENTS.c.id > since_id).order_by(EVENTS.c.id).limit(limit)
        if search_id is not None:
            stmt = stmt.where(EVENTS.c.search_id == search_id)
        if kinds is not None:
            stmt = stmt.where(EVENTS.c.kind.in_(list(kinds)))
        with self._read() as conn:
            return [to_record(EventRecord, r) for r in conn.execute(stmt)]

    def last_event_id(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.max(EVENTS.c.id))).scalar() or 0)
