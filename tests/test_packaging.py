"""The distribution installs our `autosel` and `operators` packages and a working CLI."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

import autosel

ROOT = Path(__file__).resolve().parents[1]


def test_installed_operators_package_is_ours() -> None:
    import operators

    # PyPI's unrelated `operators` project would not live in this repository...
    assert Path(operators.__file__).resolve().parent == ROOT / "operators"
    # ...and the installed distribution that provides the import name is ours.
    assert set(md.packages_distributions().get("operators", [])) == {"autosel-sft"}
    assert set(md.packages_distributions().get("autosel", [])) == {"autosel-sft"}
    assert md.version("autosel-sft") == autosel.__version__


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("autosel")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)


def test_cli_version_and_help_list_groups() -> None:
    out = _cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"autosel {autosel.__version__}"
    helptext = _cli("--help").stdout
    for group in ("pool", "demo", "demo-pool"):
        assert group in helptext


def test_importing_the_cli_does_not_import_torch() -> None:
    code = "import sys, autosel.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_cli_reports_bad_input_with_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p"}\n')
    out = _cli("pool", "add", str(bad))
    assert out.returncode == 4
    assert f"{bad}, line 1, field 'response': missing" in out.stderr
