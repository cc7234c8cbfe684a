"""autosel's built-in operator library (registered on import).

One module per operator family; importing this package registers every operator in the
:mod:`autosel.ops` registry. ``__autosel_operators__`` marks the package as autosel's (the
name ``operators`` is also taken by an unrelated project on PyPI).
"""

from operators import combine, dedup, diversity, mixing, quality, rft, shape  # noqa: F401

__autosel_operators__ = True
