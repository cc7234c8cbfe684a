"""Retry store calls through a database outage: exponential backoff with full jitter.

Workers wrap each store call in :func:`call_with_retry`. Only *transient* errors are
retried (connection refused or dropped, server shutting down, SQLite file locked past
its busy timeout); a lost lease, a missing object or a constraint violation is raised at
once. Jitter spreads the retries of many workers so a recovering server is not hit by all
of them in the same millisecond.

Retrying is safe because the store's reports are idempotent: a ``complete_job`` whose
commit succeeded but whose reply was lost returns the stored result when repeated. A
``claim_job`` in the same situation leaves a job leased to nobody; it is requeued when
that lease expires (costing one attempt).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Retry policy.

    Attributes:
        base: first delay bound, seconds; the bound doubles after every failure.
        cap: largest delay bound, seconds.
        give_up_after: stop retrying (re-raise) once this many seconds have passed since
            the first failure; None retries forever.
    """

    base: float = 0.05
    cap: float = 5.0
    give_up_after: float | None = 300.0

    def delay(self, failures: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(failures-1))]."""
        # Clamp the exponent: after hours of outage 2**failures would overflow a float.
        bound = min(self.cap, self.base * 2.0 ** min(max(0, failures - 1), 60))
        return rng.uniform(0.0, bound)


def is_transient(err: BaseException) -> bool:
    """Whether ``err`` means "the database is unreachable or busy right now"."""
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(err, OperationalError | InterfaceError)


def call_with_retry(
    fn: Callable[P, T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Call ``fn(*args, **kwargs)`` with the default :class:`Backoff` (see :func:`retrying`)."""
    return retrying(fn)(*args, **kwargs)


def retrying(
    fn: Callable[P, T],
    *,
    policy: Backoff = Backoff(),  # noqa: B008 - frozen, shared safely
    rng: random.Random | None = None,
    on_retry: Callable[[int, float, BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Callable[P, T]:
    """``fn`` wrapped to retry transient database errors.

    Args:
        fn: the store method (or any callable) to wrap.
        policy: delays and when to give up.
        rng: jitter source (seed it for reproducible tests); default a fresh Random.
        on_retry: called as ``on_retry(failures, delay, error)`` before each sleep.
        sleep: how to wait (tests may pass a fake clock).
    """
    jitter = rng or random.Random()

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        failures = 0
        first_failure = 0.0
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as err:
                if not is_transient(err):
                    raise
                now = time.monotonic()
                failures += 1
                if failures == 1:
                    first_failure = now
                elif (
                    policy.give_up_after is not None
                    and now - first_failure > policy.give_up_after
                ):
                    raise
                delay = policy.delay(failures, jitter)
                if on_retry is not None:
                    on_retry(failures, delay, err)
                sleep(delay)

    wrapper.__name__ = getattr(fn, "__name__", "retrying")
    wrapper.__doc__ = fn.__doc__
    return wrapper
