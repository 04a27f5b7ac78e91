"""What every benchmark shares: its quick mode, timing a command, and the table of
ratios it prints."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time


def arguments(parser: argparse.ArgumentParser, **quick: object) -> argparse.Namespace:
    """The benchmark's arguments. With ``--quick``, each argument named in ``quick`` and
    not given takes that small size: what CI runs, to show the figures and to fail
    only when the benchmark cannot run (never on a ratio: the machines are shared)."""
    parser.add_argument("--quick", action="store_true", help="small sizes, as CI runs it")
    args = parser.parse_args()
    if args.quick:
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    return args


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds ``command`` takes to run to completion."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def print_ratios(samples: dict[str, list[float]], baseline: str) -> None:
    """Medians, and each one's ratio to the baseline measured in the same run."""
    medians = {name: statistics.median(values) for name, values in samples.items()}
    width = max(len(name) for name in medians) + 2
    print(f"{'command':<{width}} {'median ms':>10} {'x baseline':>11}")
    for name, seconds in medians.items():
        print(f"{name:<{width}} {seconds * 1000:>10.1f} {seconds / medians[baseline]:>11.2f}")


def sample_interleaved(
    commands: dict[str, list[str]], runs: int, env: dict[str, str]
) -> dict[str, list[float]]:
    """Times of each command, ``runs`` times, taking turns so that drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(timed(command, env))
    return samples


def remove_images(repository: str) -> None:
    """Remove every image of ``repository`` (what a benchmark built)."""
    found = subprocess.run(
        ["docker", "images", "-q", repository], capture_output=True, text=True
    ).stdout.split()
    if found:
        subprocess.run(["docker", "rmi", "--force", *set(found)], capture_output=True)


def print_goals(goals: list[tuple[str, str, str, bool]]) -> None:
    """Each goal (what, the goal, the figure measured, whether it is met) as one line
    of an 80-column table."""
    print(f"{'goal':<34} {'wanted':<16} {'measured':<18} {'met':>6}")
    for what, wanted, measured, met in goals:
        print(
            f"{what[:34]:<34} {wanted[:16]:<16} {measured[:18]:<18} {'yes' if met else 'MISSED':>6}"
        )
