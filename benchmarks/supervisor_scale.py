"""What a batch's supervisor costs per run, at 10, 100 and 300 live runs.

Run: .venv/bin/python benchmarks/supervisor_scale.py [--sizes 10,100,300] [--parallel 50]
     [--sleep 2] [--quick]

Each size is one foreground `scad batch` of `SLEEP:` prompts (the offline model
holds each run that long) at `--parallel` at once, against the real engine, the
test project's image and Claude Code. Of the batch process (what supervises every
run: launches, streams each run's output into its log, watches, records the
outcome) it prints the CPU seconds per run and the peak RSS per run, each as a
ratio to the smallest size's. Goal: within 1.2x (a cost flat in the number of
runs). The peak RSS itself is printed too: it follows the runs at once, not all.
`--quick` (what CI runs): 10 and 30 runs; it fails only when it cannot run, never
on a ratio.

Needs the Docker engine, the base image, and the test project's image (built when
missing). Take the engine's lock: `flock /tmp/scad-engine.lock ...`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import arguments
from batch import SCAD, make_project, remove_runs, scad_batch

GOAL = 1.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,100,300", help="runs per batch, the first the base")
    parser.add_argument("--parallel", type=int, default=50, help="runs at once, at most")
    parser.add_argument("--sleep", type=float, default=2.0, help="seconds each run sleeps")
    options = arguments(parser, sizes="10,30")
    sizes = [int(n) for n in options.sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="scad-bench-supervisor-"))
    env: dict[str, str] | None = None
    model = subprocess.Popen(
        [SCAD, "offline", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    costs: dict[int, dict[str, float]] = {}
    try:
        assert model.stdout is not None
        url = model.stdout.readline().removeprefix("offline model listening on ").strip()
        env = make_project(root, url)
        for n in sizes:
            print(f"{n} runs, {min(n, options.parallel)} at once", file=sys.stderr)
            prompt = f"SLEEP: {options.sleep:g}\nSAY: done"
            at_once = min(n, options.parallel)
            costs[n] = scad_batch(env, n, at_once, f"s{n}", prompt, foreground=True).cost
            remove_runs(env)
    finally:
        model.terminate()
        if env is not None:
            remove_runs(env)
        shutil.rmtree(root, ignore_errors=True)
    print_table(costs, options.parallel, options.sleep)


def print_table(costs: dict[int, dict[str, float]], parallel: int, sleep: float) -> None:
    """80 columns: per size, CPU-s and RSS per run, their ratios to the first size's."""
    base = min(costs)
    cpu0 = costs[base]["cpu_s"] / base
    rss0 = costs[base]["rss_mb"] / base
    print(f"the batch process over N runs of `SLEEP: {sleep:g}`, {parallel} at once at most")
    print(f"{'runs':>5} {'CPU-s/run':>10} {'ratio':>6} {'RSS MB/run':>11} {'ratio':>6} "
          f"{'peak RSS MB':>12} {'goal':>5} {'met':>4}")  # fmt: skip
    for n, cost in sorted(costs.items()):
        cpu, rss = cost["cpu_s"] / n, cost["rss_mb"] / n
        met = "met" if cpu / cpu0 <= GOAL and rss / rss0 <= GOAL else "not"
        print(f"{n:>5} {cpu:>10.3f} {cpu / cpu0:>6.2f} {rss:>11.2f} {rss / rss0:>6.2f} "
              f"{cost['rss_mb']:>12.1f} {GOAL:>5.1f} {met:>4}")  # fmt: skip


if __name__ == "__main__":
    main()
