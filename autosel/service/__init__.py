"""The use-case layer: one function per user action, shared by every front end.

Creating, cancelling, resuming or reporting a search, registering a pool and exporting a
trial's subset are each written once, here. The REST routes (:mod:`autosel.api.routes`),
the CLI's embedded client (:mod:`autosel.cli.client`) and ``autosel run`` only parse their
input, call one of these functions and render what it returns, so the two front ends
cannot drift apart: they change the same state and write the same events.

Layer: above the scheduler, the worker and the store (an embedded run drives them from
:func:`run_embedded`), below the API and the CLI. Nothing below imports it. It is its own
package rather than ``autosel.scheduler.service`` because most actions (pools, exports,
cancel) are not the scheduler's business, and the scheduler must not depend on them.

Importing it is light (no torch): heavy modules are imported inside the functions.
"""

from autosel.service.embedded import run_embedded
from autosel.service.pools import record_pool, register_pool
from autosel.service.searches import (
    SubsetExport,
    cancel_search,
    create_search,
    export_subset,
    find_trial,
    recipe_yaml,
    resume_search,
    search_report,
)

__all__ = [
    "SubsetExport",
    "cancel_search",
    "create_search",
    "export_subset",
    "find_trial",
    "recipe_yaml",
    "record_pool",
    "register_pool",
    "resume_search",
    "run_embedded",
    "search_report",
]
