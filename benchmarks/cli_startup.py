"""Benchmark: how long the ``autosel`` command takes to start, against a bare interpreter.

Times, as wall-clock of a fresh process each, ``python -c pass`` (the floor),
``autosel --help`` and ``autosel search list --server URL`` against a live
``autosel serve`` on 127.0.0.1 (started here, with no scheduler and no in-process worker,
in a throw-away ``AUTOSEL_HOME``, and stopped at the end). The three commands run in
rounds, one of each per round, so that a busy machine slows them alike; each figure is
the median over the rounds, and each command's ratio to the floor is printed beside it.

    python benchmarks/cli_startup.py            # 15 rounds
    python benchmarks/cli_startup.py --quick    # 5 rounds

Targets: ``autosel --help`` and the remote ``search list`` under 0.5 s each. Neither may
import torch (``tests/test_light_imports.py`` checks that); this measures what is left.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"autosel serve exited with {proc.returncode}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("autosel serve did not start")


def _time(cmd: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of one run of ``cmd``; a failing command stops the benchmark."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {out.returncode}: {out.stderr.strip()}")
    return elapsed


def _verdict(seconds: float) -> str:
    return "PASS" if seconds < TARGET_SECONDS else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 15")
    args = parser.parse_args()
    rounds = 5 if args.quick else 15
    exe = str(Path(sys.executable).with_name("autosel"))
    if not Path(exe).is_file():
        raise SystemExit(f"no autosel console script beside {sys.executable}; run make venv")

    with tempfile.TemporaryDirectory(prefix="autosel-bench-cli-") as tmp:
        env = {**os.environ, "AUTOSEL_HOME": str(Path(tmp) / "home")}
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "0"]
            + ["--no-scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            _wait_up(base, server)
            commands = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "autosel --help": [exe, "--help"],
                "autosel search list --server": [exe, "search", "list", "--server", base],
            }
            for cmd in commands.values():  # warm the OS file cache once, untimed
                _time(cmd, env)
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(rounds):
                for name, cmd in commands.items():
                    times[name].append(_time(cmd, env))
        finally:
            server.terminate()
            server.wait(timeout=30)

    median = {name: statistics.median(ts) for name, ts in times.items()}
    floor = median["python -c pass"]
    print(f"{rounds} rounds, median wall-clock of a fresh process; server: autosel serve on {base}")
    print(f"{'command':<32} {'median s':>9} {'min s':>7} {'max s':>7} {'x python':>9}")
    for name, ts in times.items():
        print(
            f"{name:<32} {median[name]:>9.3f} {min(ts):>7.3f} {max(ts):>7.3f} "
            f"{median[name] / floor:>9.1f}"
        )
    help_s, remote_s = median["autosel --help"], median["autosel search list --server"]
    print(
        f"TARGET cli_help_seconds measured={help_s:.3f} target=<{TARGET_SECONDS} "
        f"{_verdict(help_s)} (x{help_s / floor:.1f} python -c pass)"
    )
    print(
        f"TARGET cli_remote_list_seconds measured={remote_s:.3f} target=<{TARGET_SECONDS} "
        f"{_verdict(remote_s)} (x{remote_s / floor:.1f} python -c pass)"
    )


if __name__ == "__main__":
    main()
