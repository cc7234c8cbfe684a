"""Which server paths a client of the API may name: one rule for every path-taking field.

A path that crosses the API (a pool file to register, a benchmark file, a model
directory, a reference ids file) is resolved, symlinks and ``..`` followed, and accepted
only when the result exists and lies inside the server's data root
(``AUTOSEL_DATA_ROOT``) — or, for model directories, inside a model root (the model
cache and ``AUTOSEL_MODEL_ROOTS``). Relative paths resolve from those roots. A missing
path and a forbidden one get the same error, so a client cannot probe the server's
file system, and no message names a server directory.

The local CLI (a user on their own machine) does not go through this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from autosel.errors import ConfigError
from autosel.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from autosel.scheduler.spec import SearchSpec

Kind = Literal["file", "dir", "file_or_dir"]  # file_or_dir: a data file or a save_to_disk dir
MAX_PATH_CHARS = 4096


class PathNotAllowedError(ConfigError):
    """A client named a path that is missing or outside the allowed roots (the same error
    for both, on purpose). The API answers 403 ``path_not_allowed``."""

    code = "path_not_allowed"

    def __init__(self, *, field: str, kind: Kind, roots: str) -> None:
        # The path itself is not echoed: the message must not differ between a missing and
        # a forbidden path, nor say which part of it is the server's root.
        what = {"file": "file", "dir": "directory"}.get(kind, "file or directory")
        super().__init__(
            f"field '{field}': not an existing {what} inside {roots} (relative paths "
            "resolve from there; symlinks are followed)"
        )
        self.field = field


def data_roots(settings: Settings) -> tuple[Path, ...]:
    """Where client-named data files (pool files, benchmarks, reference ids) may lie."""
    return (settings.allowed_root,)


def model_roots(settings: Settings) -> tuple[Path, ...]:
    """Where client-named model directories may lie: the data root, the model cache and
    ``AUTOSEL_MODEL_ROOTS`` (each resolved)."""
    extra = [settings.models_dir, *settings.model_roots]
    return (settings.allowed_root, *(Path(p).expanduser().resolve() for p in extra))


def _fits(candidate: Path, roots: Sequence[Path], kind: Kind) -> Path | None:
    try:
        resolved = candidate.resolve()  # follows every symlink and '..'
        if not any(resolved.is_relative_to(r) for r in roots):
            return None
        ok = {"file": resolved.is_file, "dir": resolved.is_dir}.get(kind, resolved.exists)()
        return resolved if ok else None
    except (OSError, RuntimeError, ValueError):  # name too long, symlink loop, NUL byte
        return None


def confine(
    raw: str | Path,
    roots: Sequence[Path],
    *,
    field: str,
    kind: Kind = "file",
    roots_name: str = "the server's data root (AUTOSEL_DATA_ROOT)",
) -> Path:
    """The resolved path ``raw`` names, if it is an existing ``kind`` inside one of ``roots``.

    Args:
        raw: the path as the client sent it (absolute, or relative to a root).
        roots: resolved directories; a relative ``raw`` is tried against each in order.
        field: the request field, dotted, named in the error.
        kind: ``file``, ``dir`` or ``file_or_dir`` (a data file or a save_to_disk directory).
        roots_name: how the error names the roots (never their server location).

    Raises:
        PathNotAllowedError: missing, of the wrong kind, or outside every root.
    """
    text = str(raw)
    if text and len(text) <= MAX_PATH_CHARS and "\x00" not in text:
        p = Path(text)
        for candidate in [p] if p.is_absolute() else [r / p for r in roots]:
            found = _fits(candidate, roots, kind)
            if found is not None:
                return found
    raise PathNotAllowedError(field=field, kind=kind, roots=roots_name)


def confine_model(ref: str | None, settings: Settings, *, field: str) -> str | None:
    """A model reference from a client: a builtin name (kept) or a confined directory."""
    from autosel.base_model import EMBEDDED_NAMES

    if ref is None or ref.lower() in EMBEDDED_NAMES:
        return ref
    roots_name = (
        "the server's data root or model roots (AUTOSEL_DATA_ROOT, AUTOSEL_MODELS_CACHE, "
        f"AUTOSEL_MODEL_ROOTS), nor a builtin model ({', '.join(EMBEDDED_NAMES)})"
    )
    path = confine(ref, model_roots(settings), field=field, kind="dir", roots_name=roots_name)
    return str(path)


def confine_spec(spec: SearchSpec, settings: Settings) -> SearchSpec:
    """``spec`` with every path it names confined and resolved (benchmark dev/test files,
    the evaluation and signal models, report reference id files).

    Raises:
        PathNotAllowedError: naming the first offending field.
    """
    roots = data_roots(settings)
    benches = []
    for i, b in enumerate(spec.eval.benchmarks):
        where = f"eval.benchmarks[{i}]"
        # A benchmark may be a save_to_disk directory (autosel.bench.load).
        update: dict[str, Any] = {
            "path": confine(b.path, roots, field=f"{where}.path", kind="file_or_dir")
        }
        if b.test_path is not None:
            update["test_path"] = confine(
                b.test_path, roots, field=f"{where}.test_path", kind="file_or_dir"
            )
        benches.append(b.model_copy(update=update))
    model = confine_model(spec.eval.model, settings, field="eval.model")
    signal_model = confine_model(spec.signals.model, settings, field="signals.model")
    references = {
        name: confine(path, roots, field=f"report.references.{name}")
        for name, path in spec.report.references.items()
    }
    return spec.model_copy(
        update={
            "eval": spec.eval.model_copy(update={"benchmarks": tuple(benches), "model": model}),
            "signals": spec.signals.model_copy(update={"model": signal_model}),
            "report": spec.report.model_copy(update={"references": references}),
        }
    )


def redact(text: str, settings: Settings) -> str:
    """``text`` with the server's own directories replaced by the settings that name them
    (what an error message may say to a remote client)."""
    names = [
        (settings.allowed_root, "$AUTOSEL_DATA_ROOT"),
        (Path(settings.models_dir).expanduser().resolve(), "$AUTOSEL_MODELS_CACHE"),
        (Path(settings.home).expanduser().resolve(), "$AUTOSEL_HOME"),
        (Path(settings.home), "$AUTOSEL_HOME"),
        *((Path(r).expanduser().resolve(), "$AUTOSEL_MODEL_ROOTS") for r in settings.model_roots),
    ]
    for path, name in sorted(names, key=lambda pn: -len(str(pn[0]))):  # longest first
        if str(path) not in ("", "/", "."):
            text = text.replace(str(path), name)
    return text
