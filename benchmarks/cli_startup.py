"""Start-up of scad's quick commands against the floor each one stands on.

Run: .venv/bin/python benchmarks/cli_startup.py [--runs N] [--quick]

Times, taking turns, the median of each of:

- `python -c pass`: the interpreter's own start (the floor of `scad --version`);
- the same python asking the engine's socket for its containers, one raw HTTP
  request (`GET /containers/json?all=1`): the floor of a status view, which needs
  that one answer;
- `scad --version`, `scad config list`;
- `scad session status` and `scad project status CONFIG`, in a home of 10 finished
  runs (built as benchmarks/project_status.py builds its own; their summaries
  cached, as after any first look), against the engine at DOCKER_HOST (else the
  local socket).

Each command's ratio is to its floor measured in the same run (absolute times on
a shared machine mislead; ratios travel); the goal is 2x. `--quick` (3 rounds,
short logs) is for CI: it fails only when it cannot run, never on a ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import sample_interleaved
from project_status import CONFIG, make_home

SCAD = str(Path(sys.executable).parent / "scad")
GOAL = 2.0
RUNS_MADE = 10

#: One raw request for the container listing, as a status view needs it.
LISTING = (
    "import socket, sys\n"
    "s = socket.socket(socket.AF_UNIX)\n"
    "s.connect(sys.argv[1])\n"
    "s.sendall(b'GET /containers/json?all=1 HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n')\n"
    "while s.recv(1 << 16): pass\n"
)


def engine_socket() -> str:
    """The engine's unix socket, which the floor of a status view asks."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://") or not Path(host.removeprefix("unix://")).exists():
        sys.exit(f"cli_startup: needs a Docker engine on a unix socket; DOCKER_HOST is {host}")
    return host.removeprefix("unix://")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="timed rounds (default 15, quick 3)")
    parser.add_argument("--quick", action="store_true", help="few rounds, short logs (CI)")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 15)
    socket = engine_socket()
    with tempfile.TemporaryDirectory() as folder:
        home, _ = make_home(Path(folder), RUNS_MADE, 200 if args.quick else 2000, 0)
        env = {**os.environ, "SCAD_HOME": str(home.root), "DOCKER_HOST": f"unix://{socket}"}
        # As an installed scad runs: its modules' bytecode cached, not compiled every time.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        floors = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python + GET /containers/json": [sys.executable, "-c", LISTING, socket],
        }
        commands = {
            "scad --version": ([SCAD, "--version"], "python -c pass"),
            "scad config list": ([SCAD, "config", "list"], "python -c pass"),
            "scad session status": ([SCAD, "session", "status"], "python + GET /containers/json"),
            f"scad project status ({RUNS_MADE} runs)": (
                [SCAD, "project", "status", CONFIG],
                "python + GET /containers/json",
            ),
        }
        cases = floors | {name: command for name, (command, _) in commands.items()}
        for command in cases.values():  # warm the disk cache and the summaries alike
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        samples = sample_interleaved(cases, runs, env)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"{'command':<33} {'median ms':>9} {'floor ms':>9} {'ratio':>6} {'goal':>5}  met")
    for name, seconds in medians.items():
        if name in floors:
            print(f"{name:<33} {seconds * 1000:>9.1f}")
    for name, (_, floor) in commands.items():
        ratio = medians[name] / medians[floor]
        met = "yes" if ratio <= GOAL else "NO"
        print(
            f"{name:<33} {medians[name] * 1000:>9.1f} {medians[floor] * 1000:>9.1f} "
            f"{ratio:>6.2f} {GOAL:>4.0f}x  {met}"
        )
    print(f"({runs} rounds, medians; ratio = command / its floor, measured in the same run)")


if __name__ == "__main__":
    main()
