"""The operator reference in Markdown, generated from the registry (README embeds it).

``python -m autosel.ops.reference`` prints it; ``--write README.md`` replaces the block
between the ``<!-- operators:start -->`` and ``<!-- operators:end -->`` markers. A test
fails when the README's block is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

START, END = "<!-- operators:start -->", "<!-- operators:end -->"


def _param(name: str, schema: dict[str, Any]) -> str:
    kinds = (
        [schema.get("type")]
        if "type" in schema
        else [a.get("type") for a in schema.get("anyOf", [])]
    )
    if "enum" in schema:
        kind = " \\| ".join(f"`{v}`" for v in schema["enum"])
    else:
        kind = " or ".join(str(k) for k in kinds if k and k != "null") or "any"
        if "null" in kinds:
            kind += " or null"
    bounds = []
    for key, sym in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        if key in schema:
            bounds.append(f"{sym} {schema[key]}")
    searched = "" if schema.get("search", True) else " (not searched)"
    default = schema.get("default")
    return (
        f"`{name}` {kind}"
        + (f" ({', '.join(bounds)})" if bounds else "")
        + f", default `{default}`"
        + searched
    )


def operator_reference() -> str:
    """One section per registered operator, sorted by name."""
    from autosel.ops import operator_catalog

    lines = []
    for op in operator_catalog():
        props = op["params_schema"].get("properties", {})
        lines.append(f"#### `{op['name']}` ({op['kind']})")
        lines.append("")
        lines.append(op.get("summary") or "")
        lines.append("")
        req = ", ".join(f"`{r}`" for r in op.get("requires", [])) or "nothing"
        lines.append(f"- requires: {req}")
        for name, schema in props.items():
            lines.append(f"- {_param(name, schema)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def embed(readme: str) -> str:
    """``readme`` with its operator block replaced by the current reference."""
    head, sep, rest = readme.partition(START)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"README has no {START} ... {END} block")
    return f"{head}{START}\n{operator_reference()}{END}{tail}"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        path = Path(sys.argv[2])
        path.write_text(embed(path.read_text()))
    else:
        print(operator_reference())
