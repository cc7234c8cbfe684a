"""Regenerate ``fingerprints.json``: realize the golden recipes on the demo pool.

    .venv/bin/python tests/recipes/golden/make_golden.py

Run it only when a change is *meant* to alter which samples a recipe selects (an
operator's semantics, the demo pool, the signal model); commit the new file with a
commit message that says why.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from demo_setup import GOLDEN_FILE, GOLDEN_RECIPES, build  # noqa: E402

from autosel.recipes import realize  # noqa: E402


def main() -> None:
    pool, signals, _ = build(Path(tempfile.mkdtemp(prefix="autosel-golden-")))
    out = {}
    for name, recipe in GOLDEN_RECIPES.items():
        res = realize(recipe, pool, signals, seed=0)
        out[name] = {
            "recipe_hash": recipe.recipe_hash,
            "size": len(res),
            "fingerprint": res.fingerprint,
            "ids": sorted(pool.sample_ids[res.indices].tolist()),
        }
        print(name, len(res), res.fingerprint[:16])
    GOLDEN_FILE.write_text(
        json.dumps(
            {"pool_content_hash": pool.content_hash, "recipes": out}, indent=2, sort_keys=True
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
