"""One rule for the references users type for stored things (pools, searches).

A reference is, in this order: the exact id; else a unique id prefix of at least
``min_prefix`` characters; else a unique name. When nothing matches it as typed, a
trailing ``…`` or ``.`` is dropped and it is tried again, so an id that a table printed
truncated can be pasted back. Nothing matching, or more than
one match at the first rule that matches, is a :class:`~autosel.errors.NotFoundError`
that says what was accepted and lists the candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from autosel.errors import NotFoundError

T = TypeVar("T")
SHOWN = 64  # longest reference echoed back in a message


def shown(ref: str) -> str:
    """``ref`` quoted for a message, cut to :data:`SHOWN` characters."""
    return repr(ref if len(ref) <= SHOWN else ref[: SHOWN - 3] + "...")


def resolve_ref(
    ref: str,
    items: Sequence[T],
    *,
    kind: str,
    id_of: Callable[[T], str],
    name_of: Callable[[T], str | None],
    min_prefix: int,
    unknown_hint: str,
) -> T:
    """The one item of ``items`` that ``ref`` names (see the module docstring).

    Args:
        ref: what the user typed.
        items: the candidates.
        kind: what they are, for messages (``"pool"``, ``"search"``).
        id_of / name_of: an item's id and name.
        min_prefix: shortest id prefix accepted.
        unknown_hint: appended when nothing matches (where to find the known ones).

    Raises:
        NotFoundError: empty reference, no match, or an ambiguous prefix or name.
    """
    accepted = (
        f"a {kind} id, a unique id prefix of at least {min_prefix} characters, "
        f"or a unique {kind} name"
    )
    typed = ref.strip()
    ref = typed.rstrip("…").rstrip(".")
    if not ref:
        raise NotFoundError(f"empty {kind} reference: accepted {accepted}")
    matches: list[T] = []
    for r in dict.fromkeys((typed, ref)):  # as typed first: a name may end in "."
        matches = (
            [x for x in items if id_of(x) == r]
            or [x for x in items if len(r) >= min_prefix and id_of(x).startswith(r)]
            or [x for x in items if name_of(x) == r]
        )
        if matches:
            break
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFoundError(f"{kind} {shown(ref)} not found (accepted {accepted}); {unknown_hint}")
    listed = ", ".join(f"{id_of(x)} ({name_of(x)})" for x in matches[:10])
    more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
    raise NotFoundError(f"{kind} {shown(ref)} is ambiguous: it matches {listed}{more}")
