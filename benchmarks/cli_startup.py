"""Cold start of `scad --version` and `scad config list` against `python -c pass`.

Run: .venv/bin/python benchmarks/cli_startup.py [--runs N]
Prints the median of N runs of each and its ratio to the baseline measured in
the same run (absolute times on a shared machine mislead; ratios travel).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import print_ratios, sample_interleaved

SCAD = str(Path(sys.executable).parent / "scad")


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
        for command in cases.values():  # warm the disk cache for every case alike
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        samples = sample_interleaved(cases, args.runs, env)
    print_ratios(samples, "python -c pass (baseline)")


if __name__ == "__main__":
    main()
