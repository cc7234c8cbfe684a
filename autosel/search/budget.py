"""A search's budget, defined once: its default and its bounds (no imports: the CLI and
the API read it at start-up).

A search's budget is set in its spec only (``autosel.scheduler.spec.SearchSpec.budget``)
and copied into its knobs; the API's request schema, the CLI's ``--budget`` and
:class:`autosel.search.strategy.SearchKnobs` take the default and bounds from here.
"""

DEFAULT_BUDGET = 8
"""Full evaluations a search spends when its spec names no budget."""

MAX_BUDGET = 10_000
"""The largest budget a spec accepts."""
