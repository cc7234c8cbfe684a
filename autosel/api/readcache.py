"""Cached read models of searches, so that many clients polling a search stay cheap.

Building a search's summary and trial rows reads its trials, jobs and results (three
queries and a few hundred JSON columns for a long search) and serialising them costs as
much again. Dashboards and CLIs poll the same search every second, so the server keeps
one serialised snapshot per search and rebuilds it only when the search moved:

* every change to a trial or a job is logged in the event table *in the same
  transaction* (see ``SqlStore._log``), so "no event with an id above the snapshot's
  cursor" means "no trial row changed";
* a search's own state change bumps its ``updated_at``, which is part of the key;
* ``max_age`` bounds staleness for the rare changes that log nothing (a prediction
  update) and for PostgreSQL, where event ids can commit slightly out of order.

A poll therefore costs two indexed queries (the search row, one event id) plus a copy of
ready bytes. One lock per search keeps fifty simultaneous misses from rebuilding fifty
times.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from autosel.store import SearchRecord, Store

_PAGE = 1000


@dataclass(frozen=True)
class Snapshot:
    """One search's read models at event ``cursor``."""

    search: SearchRecord
    cursor: int
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    summary_json: bytes  # the summary plus the spec: GET /v1/searches/{id}
    trials_json: bytes  # {data, count}: GET /v1/searches/{id}/trials
    built_at: float


class SearchReadCache:
    """Per-search snapshots keyed on (latest event id, search ``updated_at``).

    Args:
        store: the store to read.
        max_age: seconds after which a snapshot is rebuilt even if nothing was logged.
        max_entries: searches kept (least recently used are dropped).
    """

    def __init__(self, store: Store, *, max_age: float = 5.0, max_entries: int = 256) -> None:
        self.store, self.max_age, self.max_entries = store, max_age, max_entries
        self._entries: OrderedDict[str, Snapshot] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.builds = 0  # for tests and benchmarks: how often a snapshot was rebuilt

    def get(self, search_id: str) -> Snapshot:
        """The current snapshot (raises NotFoundError for an unknown search)."""
        search = self.store.get_search(search_id)
        snap = self._fresh(search)
        if snap is not None:
            return snap
        with self._lock(search_id):
            snap = self._fresh(search)  # another thread may have rebuilt it meanwhile
            if snap is None:
                snap = self._build(search)
        return snap

    def _lock(self, search_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(search_id, threading.Lock())

    def _fresh(self, search: SearchRecord) -> Snapshot | None:
        with self._guard:
            snap = self._entries.get(search.id)
            if snap is not None:
                self._entries.move_to_end(search.id)
        if snap is None or snap.search.updated_at != search.updated_at:
            return None
        if time.monotonic() - snap.built_at > self.max_age:
            return None
        if self.store.events(snap.cursor, search_id=search.id, limit=1):
            return None
        return snap

    def _latest_event(self, search_id: str, since: int) -> int:
        cursor = since
        while True:
            batch = self.store.events(cursor, search_id=search_id, limit=_PAGE)
            if batch:
                cursor = batch[-1].id
            if len(batch) < _PAGE:
                return cursor

    def _build(self, search: SearchRecord) -> Snapshot:
        from autosel.scheduler.views import search_summary, trial_rows

        with self._guard:
            old = self._entries.get(search.id)
        # Read the cursor first: a change logged after it makes the snapshot stale, never lost.
        cursor = self._latest_event(search.id, old.cursor if old else 0)
        search = self.store.get_search(search.id)
        rows = trial_rows(self.store, search.id)
        summary = search_summary(self.store, search, rows)
        snap = Snapshot(
            search=search,
            cursor=cursor,
            rows=rows,
            summary=summary,
            summary_json=orjson.dumps({**summary, "spec": search.spec}),
            trials_json=orjson.dumps({"data": rows, "count": len(rows)}),
            built_at=time.monotonic(),
        )
        with self._guard:
            self._entries[search.id] = snap
            self._entries.move_to_end(search.id)
            while len(self._entries) > self.max_entries:
                evicted, _ = self._entries.popitem(last=False)
                self._locks.pop(evicted, None)
            self.builds += 1
        return snap
