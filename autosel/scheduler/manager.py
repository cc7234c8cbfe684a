"""Drives every active search of a store from one background thread (used by the server).

A search whose step raises (a missing pool, signals gone from the cache) is marked
failed with the reason in the event log instead of stopping the others. Building a
scheduler does no work, and signals are computed by a ``signals`` job (see
:class:`~autosel.scheduler.scheduler.Scheduler`), so one round never blocks on them. Cancelled
searches are settled too: their trials end with their jobs (see
:func:`~autosel.scheduler.scheduler.settle_cancelled`), also those cancelled before a
restart, so no trial of a cancelled search stays ``running``.
"""

from __future__ import annotations

import logging
import threading

from autosel.scheduler.scheduler import Scheduler, settle_cancelled
from autosel.settings import Settings
from autosel.store import Store

log = logging.getLogger("autosel.scheduler")


class SearchManager:
    """Steps all searches in state created/running until stopped."""

    def __init__(self, store: Store, settings: Settings, *, poll_seconds: float = 1.0) -> None:
        self.store, self.settings, self.poll = store, settings, poll_seconds
        self._schedulers: dict[str, Scheduler] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Cancelled searches whose trials have all ended: nothing can change them again.
        self._settled: set[str] = set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="autosel-scheduler", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def step_all(self) -> int:
        """One round over every active search; returns how many jobs were proposed."""
        proposed = 0
        active = self.store.searches(state="running") + self.store.searches(state="created")
        for search in active:
            try:
                sched = self._schedulers.get(search.id)
                if sched is None:
                    sched = self._schedulers[search.id] = Scheduler(
                        self.store, search.id, settings=self.settings
                    )
                report = sched.step()
                proposed += report.proposed
                if report.done:
                    self._schedulers.pop(search.id, None)
            except Exception as exc:  # noqa: BLE001 - one broken search must not stop the rest
                log.exception("search %s failed", search.id)
                self._schedulers.pop(search.id, None)
                self.store.set_search_state(search.id, "failed")
                self.store.append_event(
                    "search_failed",
                    {"reason": f"{type(exc).__name__}: {exc}"[:2000]},
                    search_id=search.id,
                )
        self.settle_cancelled()
        return proposed

    def settle_cancelled(self) -> int:
        """End the trials of cancelled searches whose jobs have ended; returns how many
        trials of cancelled searches are still in flight (their workers not stopped yet)."""
        left = 0
        for search in self.store.searches(state="cancelled"):
            if search.id in self._settled:
                continue
            self._schedulers.pop(search.id, None)
            try:
                in_flight = settle_cancelled(self.store, search.id)
            except Exception:  # noqa: BLE001 - one search must not stop the others
                log.exception("settling cancelled search %s failed", search.id)
                continue
            if in_flight:
                left += in_flight
            else:
                self._settled.add(search.id)
        return left

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                proposed = self.step_all()
            except Exception:  # noqa: BLE001 - e.g. the database is briefly unreachable
                log.exception("scheduler round failed; retrying")
                proposed = 0
            if not proposed:
                self._stop.wait(self.poll)
