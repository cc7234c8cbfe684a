"""Project exceptions.

Every user-facing error names what was wrong, where (file, line/record, field) and what
would be accepted. The CLI prints ``str(err)`` and exits with ``err.exit_code``; the API
maps ``err.code`` to a stable JSON error code.
"""

from __future__ import annotations

import errno
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


class StorageError(AutoselError):
    """The local file system refused an operation: permission denied, read-only file
    system, disk full, or a missing file or directory (see :func:`describe_os_error`)."""

    code = "storage_error"
    exit_code = 7


class DatabaseError(AutoselError):
    """The job store cannot be used: locked, unreachable, corrupt, or not an autosel
    database."""

    code = "database_error"
    exit_code = 8


_OS_ERROR_HINTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on device", "free disk space or use a larger disk"),
    errno.EDQUOT: ("disk quota exceeded", "free space or use another disk"),
    errno.EROFS: ("read-only file system", "use a writable location"),
    errno.EACCES: ("permission denied", "check the permissions"),
    errno.EPERM: ("operation not permitted", "check the permissions"),
    errno.ENOENT: ("no such file or directory", "check the path"),
    errno.ENOTDIR: ("a part of the path is not a directory", "check the path"),
    errno.EISDIR: ("is a directory, a file was expected", "give a file"),
    errno.ENAMETOOLONG: ("file name too long", "use a shorter path"),
}
# Errors that moving autosel's data elsewhere would cure.
_HOME_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def describe_os_error(
    err: OSError, path: str | Path | None = None, *, home: str | Path | None = None
) -> str:
    """One line naming the path, what the file system said and what to do about it.

    Args:
        err: the error (``errno`` may be unset, as in some pyarrow errors: then its text
            is used).
        path: the path to name when the error carries none (``err.filename`` wins).
        home: ``AUTOSEL_HOME``; when the path lies inside it and another disk or
            directory would help, the hint says that ``AUTOSEL_HOME`` can move.
    """
    where = err.filename if err.filename is not None else path
    code = err.errno
    what, hint = _OS_ERROR_HINTS.get(code or -1, (err.strerror or str(err), ""))
    if code is None:
        # pyarrow raises OSError("... [errno 28] No space left on device") with no errno.
        text = str(err).lower()
        for known_code, (known, known_hint) in _OS_ERROR_HINTS.items():
            if f"errno {known_code}]" in text or known in text:
                code, what, hint = known_code, known, known_hint
                break
        else:
            what = " ".join(str(err).split())
    if code in _HOME_ERRNOS and where is not None and home is not None and _inside(where, home):
        hint += " (or set AUTOSEL_HOME to a directory elsewhere)"
    line = f"{where}: {what}" if where is not None else what
    return f"{line}; {hint}" if hint else line


def _inside(path: str | Path, root: str | Path) -> bool:
    try:
        return Path(path).absolute().is_relative_to(Path(root).expanduser().absolute())
    except (OSError, ValueError):
        return False
