"""The scheduler couples a search to the job store (see docs/architecture.md)."""

from autosel.scheduler.scheduler import Scheduler, StepReport
from autosel.scheduler.spec import SearchSpec, SignalsSpec

__all__ = ["Scheduler", "SearchSpec", "SignalsSpec", "StepReport"]
