"""The tree stays ruff-clean and mypy-clean (rules in pyproject.toml), and every
``# type: ignore`` names its error code and says why."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TYPED = ("autosel", "operators")
# `# type: ignore[code]  # reason`: the code in brackets, then a comment of a few words.
IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<rest>.*)$")
WITH_REASON = re.compile(r"^\[[a-z0-9-]+(,\s*[a-z0-9-]+)*\]\s+#\s*\S.{4,}")


def test_ruff_check_passes() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    out = subprocess.run([str(ruff), "check", "--output-format", "concise", "."], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:]


@pytest.mark.slow
def test_mypy_passes() -> None:
    # Files and settings come from [tool.mypy]; about 75 s on a cold cache, seconds warm.
    mypy = Path(sys.executable).with_name("mypy")
    out = subprocess.run([str(mypy)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]


def unexplained_ignores(paths: list[Path], root: Path = ROOT) -> list[str]:
    """``file:line`` of each ``# type: ignore`` without ``[code]  # reason``."""
    bad = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = IGNORE.search(line)
            if m and not WITH_REASON.match(m.group("rest").strip()):
                bad.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    return bad


def test_every_type_ignore_names_its_code_and_reason() -> None:
    paths = sorted(p for d in TYPED for p in (ROOT / d).rglob("*.py"))
    assert paths
    bad = unexplained_ignores(paths)
    assert not bad, "write `# type: ignore[code]  # why`:\n" + "\n".join(bad)


def test_the_ignore_check_tells_a_bare_ignore_from_an_explained_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "a = 1  # type: ignore\n"
        "b = 2  # type: ignore[assignment]\n"
        "c = 3  # type: ignore[assignment]  # numpy stubs widen to ndarray\n",
        encoding="utf-8",
    )
    bad = unexplained_ignores([sample], tmp_path)
    assert [b.split(":")[1] for b in bad] == ["1", "2"]
