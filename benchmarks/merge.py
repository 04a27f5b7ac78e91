"""`scad code merge` of a batch's runs, against doing the same merges by hand.

Run: .venv/bin/python benchmarks/merge.py [--runs N] [--branches N] [--commits N]

A host repo of N commits (default 1,000) over 100 files, and a batch of 20 runs
(default), each of which committed a change to a file of its own. Timed,
interleaved, medians and ratios to the baseline measured in the same run:

- baseline: a shell loop of `git merge-tree --write-tree` and `git commit-tree` over
  the runs' branches (fetched into the host beforehand), then `git update-ref`;
- `scad code merge BATCH --into B`: the CLI, reading each run's clone through its
  store (warm), merging in the object store and writing the branch.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import anyio
from _bench import arguments, print_ratios, sample_interleaved
from clone_read import fast_import

from scad.batch.events import AttemptEnded, AttemptStarted
from scad.batch.store import (
    BatchItem,
    BatchManifest,
    BatchOptions,
    BatchPaths,
    append_batch_event,
    save_manifest,
)
from scad.code.clones import create_clone
from scad.home import Home
from scad.runs.records import RunPaths, RunRecord, save_run

BATCH = "bench-m-Jan01-1000"
SCAD = str(Path(sys.executable).parent / "scad")
#: The shell loop a user would write: every branch merged onto the last result.
LOOP = """
tip=$(git rev-parse main)
for b in $(git for-each-ref --format='%(refname:short)' 'refs/heads/scad-*'); do
  tree=$(git merge-tree --write-tree "$tip" "$b") || continue
  tip=$(echo "Merge $b" | git commit-tree "$tree" -p "$tip" -p "$b")
done
git update-ref "refs/heads/$1" "$tip"
"""


def make_batch(root: Path, host: Path, branches: int) -> Home:
    home = Home(root / "home")
    paths = BatchPaths(home, BATCH)
    paths.root.mkdir(parents=True)
    # Where each run's clone started, as runs record it.
    base = subprocess.run(["git", "-C", str(host), "rev-parse", "main"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    items = [BatchItem(index=n, tag=f"m-{n:02d}", prompt="p") for n in range(1, branches + 1)]
    save_manifest(paths, BatchManifest(batch_id=BATCH, config="bench", tag="m",
                                       created="2026-01-01T10:00:00.000Z", image="i", source="-",
                                       options=BatchOptions(), items=items))  # fmt: skip
    for item in items:
        run_id = f"bench-m-{item.index:02d}-Jan01-1000"
        run = RunPaths(home, run_id)
        run.worktrees.mkdir(parents=True)
        clone = run.clone("code")
        anyio.run(functools.partial(create_clone, owner=None), host, clone, f"scad-{run_id}")
        (clone / f"run{item.index}.txt").write_text(f"run {item.index}\n")
        agent = ("-c", "user.name=a", "-c", "user.email=a@a", "-C", str(clone))
        subprocess.run(["git", *agent, "add", "-A"], check=True)
        subprocess.run(["git", *agent, "commit", "-qm", f"run {item.index}"], check=True)
        subprocess.run(
            ["git", "-C", str(host), "fetch", "-q", str(clone), f"scad-{run_id}:scad-{run_id}"],
            check=True,
        )
        save_run(home, RunRecord(run_id=run_id, config="bench", tag=item.tag, mode="headless",
                                 image="i", branch=f"scad-{run_id}", created="2026-01-01T10:00:00.000Z",
                                 repos={"code": str(host)}, bases={"code": base},
                                 batch_id=BATCH, item=item.index))  # fmt: skip
        append_batch_event(paths, AttemptStarted(item=item.index, run_id=run_id, attempt=1))
        append_batch_event(paths, AttemptEnded(item=item.index, run_id=run_id, attempt=1,
                                               status="succeeded", final=True))  # fmt: skip
    return home


class Counter:
    """A fresh branch name for each timed merge, so each builds the branch anew."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.n = prefix, 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.prefix}-{self.n}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--branches", type=int, default=20)
    parser.add_argument("--commits", type=int, default=1000)
    args = arguments(parser, runs=2, branches=4, commits=200)
    with tempfile.TemporaryDirectory() as root_name:
        root = Path(root_name)
        host = root / "host"
        subprocess.run(["git", "init", "-q", "-b", "main", str(host)], check=True)
        fast_import(host, args.commits, "main", "host")
        subprocess.run(["git", "-C", str(host), "checkout", "-q", "main"], check=True)
        home = make_batch(root, host, args.branches)
        env = {**os.environ, "SCAD_HOME": str(home.root)}
        # Outside the loop's scad-* pattern: each timed merge leaves a branch, and the
        # loop must merge the same 20 runs every time, not the results too.
        scad = Path(root, "scad.sh")
        scad.write_text(f'exec {SCAD} code merge {BATCH} --into "merged-$$"\n')
        loop = Path(root, "loop.sh")
        loop.write_text(f"cd {host}\n{LOOP}")
        commands = {
            "shell loop of git merge-tree": ["sh", str(loop), "by-hand"],
            "scad code merge": ["sh", str(scad)],
        }
        samples = sample_interleaved(commands, args.runs, env)
        merged = subprocess.run(
            ["git", "-C", str(host), "for-each-ref", "--format=%(refname)", "refs/heads/merged-*"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert len(merged) == args.runs, merged
        print(f"{args.branches} runs into one branch, {args.commits} commits of history")
        print_ratios(samples, "shell loop of git merge-tree")


if __name__ == "__main__":
    main()
