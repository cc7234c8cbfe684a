"""Operator registry: stable names, duplicates rejected, third-party packs by entry point.

Every operator pack, the built-in one included, declares an entry point in the group
``autosel.operators``; its value is either a module (importing it runs its
``@register_operator`` decorators) or an :class:`~autosel.ops.base.Operator` subclass
(registered under the entry point's name). The built-in library is the top-level
``operators`` package, declared in ``pyproject.toml`` as ``builtin = "operators"``: this
module never imports it by name, so ``operators`` (which imports ``autosel.ops``) and
``autosel.ops`` do not import each other. Packs are loaded lazily, on the first lookup
or listing.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
from collections.abc import Callable
from typing import Any

from autosel.errors import ConfigError, NotFoundError
from autosel.ops.base import Operator

ENTRY_POINT_GROUP = "autosel.operators"

_REGISTRY: dict[str, type[Operator]] = {}
_ORIGIN: dict[str, str] = {}
_loaded = False


class UnknownOperatorError(NotFoundError, ConfigError):
    """A recipe or command named an operator that is not registered."""

    code = "unknown_operator"
    exit_code = 2


def register_operator(
    name: str, *, origin: str | None = None
) -> Callable[[type[Operator]], type[Operator]]:
    """Class decorator registering an operator under ``name``.

    Raises:
        ConfigError: ``name`` is already taken by another class, or the class is not an
            ``Operator`` subclass with a ``Params`` model.
    """
    if not name or not name.replace("_", "").isalnum() or name != name.lower():
        raise ConfigError(f"operator name '{name}': use lower_snake_case letters and digits")

    def deco(cls: type[Operator]) -> type[Operator]:
        if not (inspect.isclass(cls) and issubclass(cls, Operator)):
            raise ConfigError(f"operator '{name}': {cls!r} is not an autosel.ops.Operator subclass")
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise ConfigError(
                f"operator '{name}' is already registered by {_ORIGIN[name]}; "
                f"{cls.__module__}.{cls.__qualname__} cannot take the same name"
            )
        cls.name = name
        _REGISTRY[name] = cls
        _ORIGIN[name] = origin or f"{cls.__module__}.{cls.__qualname__}"
        return cls

    return deco


BUILTIN_MARK = "__autosel_operators__"
"""Attribute set on autosel's own operator package (another project on PyPI is also
called ``operators``; a shadowing directory on ``sys.path`` would lack the mark)."""


def _load_entry_point(ep: Any) -> Any:
    try:
        obj = ep.load()
    except Exception as exc:  # a broken third-party pack must say which one it is
        raise ConfigError(
            f"operator pack entry point '{ep.name} = {ep.value}' failed to load: {exc}"
        ) from exc
    if inspect.isclass(obj) and issubclass(obj, Operator) and _REGISTRY.get(ep.name) is not obj:
        register_operator(ep.name, origin=f"entry point {ep.value}")(obj)
    return obj


def _check_builtin(eps: list[Any], loaded: list[Any]) -> None:
    """Raise unless one entry point loaded autosel's built-in operator package."""
    if any(inspect.ismodule(obj) and getattr(obj, BUILTIN_MARK, False) for obj in loaded):
        return
    found = ", ".join(f"'{ep.name} = {ep.value}'" for ep in eps) or "none"
    shadow = [obj for ep, obj in zip(eps, loaded, strict=True) if ep.value == "operators"]
    if shadow:  # e.g. a directory named `operators/` earlier on sys.path
        where = getattr(shadow[0], "__file__", None) or list(getattr(shadow[0], "__path__", []))
        raise ConfigError(
            f"the importable 'operators' package ({where}) is not autosel's operator "
            "library; check sys.path for a shadowing directory or project"
        )
    raise ConfigError(
        f"autosel's built-in operators are not registered: no entry point in the group "
        f"'{ENTRY_POINT_GROUP}' loads the 'operators' package (found: {found}). The "
        f"metadata of autosel-sft ({_metadata_dir()}) is missing or stale; reinstall it "
        "with `pip install -e .` (or `make venv`), and delete a stale "
        "`autosel_sft.egg-info` directory from the working directory if there is one"
    )


def _metadata_dir() -> str:
    """Where the autosel-sft metadata that Python sees comes from (the first copy on
    ``sys.path`` wins, so an old build's egg-info in the working directory hides the
    installed one)."""
    try:
        dist = md.distribution("autosel-sft")
    except md.PackageNotFoundError:
        return "not installed"
    return str(getattr(dist, "_path", "location unknown"))


def load_plugins(*, force: bool = False) -> None:
    """Load every ``autosel.operators`` entry point, the built-in library among them.

    Entry points are visited sorted by name so that a duplicate is always reported the
    same way, whatever order the environment lists them in. Loading the same entry point
    twice is a no-op.

    Raises:
        ConfigError: a pack failed to load, or no entry point provides autosel's own
            ``operators`` package (stale install metadata, or a shadowing directory).
    """
    global _loaded
    if _loaded and not force:
        return
    eps = sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value))
    loaded = [_load_entry_point(ep) for ep in eps]
    _check_builtin(eps, loaded)
    _loaded = True


def get_operator(name: str) -> type[Operator]:
    """The operator class registered as ``name``.

    Raises:
        UnknownOperatorError: no such operator (the known names are listed).
    """
    load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(list_operators())
        raise UnknownOperatorError(f"unknown operator '{name}'; known operators: {known}") from None


def list_operators() -> list[str]:
    """Registered operator names, sorted."""
    load_plugins()
    return sorted(_REGISTRY)


def operator_origin(name: str) -> str:
    """Where ``name`` was registered from (module path or entry point)."""
    get_operator(name)
    return _ORIGIN[name]


def operator_info(name: str) -> dict[str, Any]:
    """Catalog entry of one operator: kind, summary, required signals, params JSON schema."""
    cls = get_operator(name)
    return {
        "name": name,
        "kind": cls.kind,
        "summary": cls.summary or (inspect.getdoc(cls) or "").split("\n")[0],
        "requires": list(cls.required_signals(cls.Params()))
        if _has_defaults(cls)
        else list(cls.requires),
        "origin": _ORIGIN[name],
        "params_schema": cls.Params.model_json_schema(),
    }


def operator_catalog() -> list[dict[str, Any]]:
    """Catalog of every registered operator, sorted by name (for the CLI and the API)."""
    return [operator_info(n) for n in list_operators()]


def _has_defaults(cls: type[Operator]) -> bool:
    try:
        cls.Params()
    except Exception:
        return False
    return True


def unregister_operator(name: str) -> None:
    """Remove ``name`` (tests that register throw-away operators clean up with this)."""
    _REGISTRY.pop(name, None)
    _ORIGIN.pop(name, None)
