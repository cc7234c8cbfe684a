"""Workers: the loop that leases evaluation jobs and runs them (see docs/architecture.md)."""

from autosel.worker.loop import Worker, WorkerStats, result_to_job_result
from autosel.worker.source import JobSource, Lease, LocalJobSource

__all__ = ["JobSource", "Lease", "LocalJobSource", "Worker", "WorkerStats", "result_to_job_result"]
