"""Project exceptions.

Every user-facing error names what was wrong, where (file, line/record, field) and what
would be accepted. The CLI prints ``str(err)`` and exits with ``err.exit_code``; the API
maps ``err.code`` to a stable JSON error code.
"""

from __future__ import annotations

from pathlib import Path


class AutoselError(Exception):
    """Base class of every error autosel reports to a user."""

    code = "autosel_error"
    exit_code = 1


class ConfigError(AutoselError):
    """A setting or spec value is invalid."""

    code = "invalid_config"
    exit_code = 2


class NotFoundError(AutoselError):
    """A referenced object (pool, signal set, search, ...) does not exist."""

    code = "not_found"
    exit_code = 3


class LeaseLostError(AutoselError):
    """A worker reported on a job whose lease it no longer holds (expired and requeued,
    finished by another worker, or cancelled). Its report was discarded; the worker
    should drop the job and claim another."""

    code = "lease_lost"
    exit_code = 5


class InvalidStateError(AutoselError):
    """An operation does not apply to an object in its current state."""

    code = "invalid_state"
    exit_code = 6


class InputError(AutoselError):
    """A user-supplied file or record is invalid.

    Args:
        message: what was wrong and what would be accepted.
        path: the file it was found in.
        line: 1-based line number (JSONL) or record number (JSON array, Parquet).
        field: the offending field, dotted (``messages[2].role``).
        unit: ``"line"`` or ``"record"``: how ``line`` counts.
    """

    code = "invalid_input"
    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        unit: str = "line",
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.unit = unit
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.line is not None:
            where.append(f"{self.unit} {self.line}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            self.unit: self.line,
            "field": self.field,
            "error": self.message,
        }
