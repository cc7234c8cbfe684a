"""The one reference rule pools and searches share (autosel.refs.resolve_ref)."""

from __future__ import annotations

import pytest

from autosel.errors import NotFoundError
from autosel.refs import resolve_ref

ITEMS = [("a1b2c3d4e5", "alpha"), ("a1b2c3ffff", "beta."), ("0123456789", "alpha2")]


def _find(ref: str) -> tuple[str, str]:
    return resolve_ref(
        ref, ITEMS, kind="thing", id_of=lambda x: x[0], name_of=lambda x: x[1],
        min_prefix=6, unknown_hint="`things list` shows them",
    )


def test_id_then_prefix_then_name() -> None:
    assert _find("0123456789") == ITEMS[2]
    assert _find("a1b2c3d") == ITEMS[0]  # a unique 7-character prefix
    assert _find("a1b2c3d…") == ITEMS[0]  # pasted from a truncated table cell
    assert _find("alpha") == ITEMS[0]
    assert _find("beta.") == ITEMS[1]  # a name ending in "." is matched as typed first


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("", "empty thing reference"),
        ("   ", "empty thing reference"),
        ("a1b2c", "thing 'a1b2c' not found"),  # 5 characters: too short to be a prefix
        ("nothing", "`things list` shows them"),
        ("a1b2c3", "is ambiguous: it matches a1b2c3d4e5 (alpha), a1b2c3ffff (beta.)"),
    ],
)
def test_failures_say_what_was_accepted_or_list_the_candidates(ref: str, says: str) -> None:
    with pytest.raises(NotFoundError) as err:
        _find(ref)
    assert says in str(err.value), str(err.value)
    assert "ambiguous" in str(err.value) or "at least 6 characters" in str(err.value)
