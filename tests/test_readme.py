"""The README stays true: the operator reference matches the registry; commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from autosel.ops.reference import embed

README = Path(__file__).resolve().parents[1] / "README.md"


def test_operator_reference_is_in_sync() -> None:
    text = README.read_text()
    assert embed(text) == text, "run: python -m autosel.ops.reference --write README.md"


def test_two_commands_come_first() -> None:
    text = README.read_text()
    quick = text.index("make demo")
    assert quick < text.index("## Concepts") and text.index("make test") < text.index("## Concepts")


def test_cli_commands_in_readme_exist() -> None:
    from typer.main import get_command

    from autosel.cli import app

    root = get_command(app)
    for line in re.findall(r"^autosel ([a-z-]+)(?: ([a-z-]+))?", README.read_text(), flags=re.M):
        group, sub = line
        assert group in root.commands, f"`autosel {group}` in README does not exist"  # type: ignore[attr-defined]
        cmd = root.commands[group]  # type: ignore[attr-defined]
        if sub and hasattr(cmd, "commands"):
            assert sub in cmd.commands, f"`autosel {group} {sub}` in README does not exist"
