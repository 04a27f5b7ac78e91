"""Reading an agent's clone safely, against plain git trusting the clone.

Run: .venv/bin/python benchmarks/clone_read.py [--runs N] [--commits N]

A host repo of N commits (default 1,000), cloned the way scad clones, on which
the agent made 50 commits more. Timed, interleaved, medians and ratios to the
baseline measured in the same run:

- baseline: `git log --branches` run in the clone itself (what scad must not do);
- scad's unfetched-work read through its store, warm (the store is up to date)
  and cold (a new store, the clone's loose objects copied);
- the same after the agent ran `git gc` (the cold read then verifies a pack of
  every commit with index-pack);
- making the clone with and without hardlinks (scad no longer hardlinks).
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio
from _bench import arguments, print_ratios

from scad.code.clones import create_clone, unfetched_work


def fast_import(repo: Path, commits: int, branch: str, prefix: str) -> None:
    """``commits`` commits on ``branch``, each changing one of 100 small files."""
    stream = []
    for n in range(commits):
        body = f"{prefix} {n}\n" * 20
        message = f"{prefix} commit {n}"
        stream.append(
            f"commit refs/heads/{branch}\n"
            f"committer b <b@b> {1_700_000_000 + n} +0000\n"
            f"data {len(message)}\n{message}\n"
            + (f"from refs/heads/{branch}^0\n" if n == 0 and prefix == "agent" else "")
            + f"M 644 inline f{n % 100}.txt\ndata {len(body)}\n{body}\n"
        )
    subprocess.run(
        ["git", "-C", str(repo), "fast-import", "--quiet"],
        input="".join(stream).encode(),
        check=True,
    )


def sample(actions: dict[str, Callable[[], None]], runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            samples[name].append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--commits", type=int, default=1000)
    args = arguments(parser, runs=2, commits=200)
    with tempfile.TemporaryDirectory() as root_name:
        root = Path(root_name)
        host = root / "host"
        subprocess.run(["git", "init", "-q", "-b", "main", str(host)], check=True)
        fast_import(host, args.commits, "main", "host")
        subprocess.run(["git", "-C", str(host), "gc", "-q"], check=True)
        clones = {}
        for name in ("loose", "packed"):
            clone = root / name / "worktrees" / "code"
            clone.parent.mkdir(parents=True)
            anyio.run(functools.partial(create_clone, owner=None), host, clone, "scad-r")
            subprocess.run(["git", "-C", str(clone), "checkout", "-q", "main"], check=True)
            fast_import(clone, 50, "scad-r", "agent")
            if name == "packed":
                subprocess.run(["git", "-C", str(clone), "gc", "-q"], check=True)
            clones[name] = clone

        def read(clone: Path, store: Path) -> Callable[[], None]:
            def action() -> None:
                ahead = anyio.run(unfetched_work, clone, store, host)
                assert ahead.total == 50

            return action

        def cold(clone: Path) -> Callable[[], None]:
            store = root / "cold.git"

            def action() -> None:
                shutil.rmtree(store, ignore_errors=True)
                read(clone, store)()

            return action

        def plain_log(clone: Path) -> Callable[[], None]:
            command = ["git", "-C", str(clone), "log", "--branches", "--format=%H %s"]
            return lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

        def make_clone(*options: str) -> Callable[[], None]:
            dest = root / "made"

            def action() -> None:
                shutil.rmtree(dest, ignore_errors=True)
                subprocess.run(
                    ["git", "clone", "-q", "--local", *options, str(host), str(dest)], check=True
                )

            return action

        warm = {name: root / f"{name}-warm.git" for name in clones}
        for name, clone in clones.items():
            read(clone, warm[name])()
        actions = {
            "git log in the clone (baseline)": plain_log(clones["loose"]),
            "scad read, warm": read(clones["loose"], warm["loose"]),
            "scad read, cold": cold(clones["loose"]),
            "scad read, warm, after agent gc": read(clones["packed"], warm["packed"]),
            "scad read, cold, after agent gc": cold(clones["packed"]),
            "clone --local (hardlinks)": make_clone(),
            "clone --local --no-hardlinks": make_clone("--no-hardlinks"),
        }
        samples = sample(actions, args.runs)
    print(f"host repo of {args.commits} commits; the agent made 50 more\n")
    print_ratios(samples, "git log in the clone (baseline)")


if __name__ == "__main__":
    main()
