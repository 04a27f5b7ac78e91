"""Every benchmark, one after another, and what became of each.

Run: .venv/bin/python benchmarks/all.py [--quick] [NAME ...]

Each benchmark prints its own table of ratios against a baseline measured in the
same run; this prints them in turn, then one line per benchmark: its seconds and
whether it ran. With ``--quick`` each runs at its small sizes (what CI runs),
but for those too slow even so, unless named. It exits 1 when a benchmark could not
run, never on a ratio: these machines are shared and noisy, and the figures are for
people to read.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Benchmarks that take minutes even at their small sizes, and why.
SLOW = {"cluster": "forms a swarm whose 3 workers pull the 1.4 GB image: about 5 minutes"}


def benchmarks() -> list[str]:
    """The benchmarks' names: every module here but this one and the shared ones."""
    return sorted(
        path.stem
        for path in HERE.glob("*.py")
        if path.stem != "all" and not path.stem.startswith("_")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each at its small sizes, as CI")
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these (default: all)")
    args = parser.parse_args()
    known = benchmarks()
    if unknown := sorted(set(args.names) - set(known)):
        parser.error(f"no benchmark named {', '.join(unknown)}; known: {', '.join(known)}")
    ran: list[tuple[str, float, int]] = []
    for name in args.names or known:
        if args.quick and not args.names and name in SLOW:
            print(f"\n== {name}: skipped, as it {SLOW[name]} (name it to run it)", flush=True)
            continue
        print(f"\n== {name}", flush=True)
        started = time.perf_counter()
        command = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if args.quick else [])]
        returncode = subprocess.run(command, check=False).returncode
        ran.append((name, time.perf_counter() - started, returncode))
    print(f"\n{'benchmark':<20} {'seconds':>8}  result")
    for name, seconds, returncode in ran:
        print(
            f"{name:<20} {seconds:>8.1f}  {'ran' if returncode == 0 else f'FAILED ({returncode})'}"
        )
    sys.exit(1 if any(returncode for _, _, returncode in ran) else 0)


if __name__ == "__main__":
    main()
