"""Cold start of `scad --version` and `scad config list` against `python -c pass`.

Run: .venv/bin/python benchmarks/cli_startup.py [--runs N]
Prints the median of N runs of each and its ratio to the baseline measured in
the same run (absolute times on a shared machine mislead; ratios travel).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCAD = str(Path(sys.executable).parent / "scad")


def median_seconds(command: list[str], runs: int, env: dict[str, str]) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "SCAD_HOME": home}
        cases = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "python -c 'import aiodocker'": [sys.executable, "-c", "import aiodocker"],
            "scad --version": [SCAD, "--version"],
            "scad config list": [SCAD, "config", "list"],
        }
        # Interleave warm-up so the first case does not pay for a cold disk cache.
        for command in cases.values():
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        results = {name: median_seconds(command, args.runs, env) for name, command in cases.items()}
    baseline = results["python -c pass (baseline)"]
    print(f"{'command':<32} {'median ms':>10} {'x baseline':>11}")
    for name, seconds in results.items():
        print(f"{name:<32} {seconds * 1000:>10.1f} {seconds / baseline:>11.2f}")


if __name__ == "__main__":
    main()
