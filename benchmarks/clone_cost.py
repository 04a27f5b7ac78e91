"""What a run's clone costs: disk and seconds per run, and the first read after a repack.

Run: .venv/bin/python benchmarks/clone_cost.py [--quick] [--runs N] [--reads N]

The host repo is made once, deterministically, and cached under
~/.cache/scad-bench: by default the size of mypy's (13,700 commits, ~158 MB of
incompressible objects, 1,900 files); ``--quick`` makes a small one and few runs.
Interleaved rounds, medians, ratios to baselines measured in the same run:

- making a run's clone: scad's (objects borrowed from its store of the host repo)
  against ``git clone --local --no-hardlinks`` (a full copy, as scad made them);
- the first read of a clone after its agent committed and ran ``git repack -ad``:
  scad's read of its work through a new store against ``git log`` in the clone.

Goal: a clone's ``.git`` under a tenth of a full copy's, in no more time (its checkout
is the run's to have), and the first read after a repack within 3x ``git log``. ``--quick`` never fails on a ratio.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import anyio

from scad.code.borrowed import borrowed_store, lend_objects
from scad.code.clones import create_clone, unfetched_run_work
from scad.home import Home
from scad.runs.records import RunPaths

CACHE = Path.home() / ".cache" / "scad-bench"
FULL = {"commits": 13_700, "files": 1_900, "megabytes": 158}
QUICK = {"commits": 300, "files": 100, "megabytes": 4}


def make_host(commits: int, files: int, megabytes: int) -> Path:
    """The host repo (cached): ``files`` files, then ``commits`` commits each rewriting
    one of them with random bytes, ``megabytes`` of objects in all."""
    repo = CACHE / f"host-{commits}c-{files}f-{megabytes}m"
    if (repo / ".git" / "scad-bench-done").exists():
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    rng = random.Random(24)
    size = megabytes * (1 << 20) // (commits + files)
    importer = subprocess.Popen(
        ["git", "-C", str(repo), "fast-import", "--quiet"], stdin=subprocess.PIPE
    )
    assert importer.stdin is not None
    write = importer.stdin.write
    for n in range(commits):
        message = f"commit {n}".encode()
        write(f"commit refs/heads/main\ncommitter b <b@b> {1_700_000_000 + n} +0000\n".encode())
        write(b"data %d\n%s\n" % (len(message), message))
        changed = range(files) if n == 0 else [rng.randrange(files)]
        for f in changed:
            body = rng.randbytes(size)
            write(f"M 644 inline d{f % 40}/f{f}.bin\ndata {len(body)}\n".encode() + body + b"\n")
    importer.stdin.close()
    assert importer.wait() == 0
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-f", "main"], check=True)
    (repo / ".git" / "scad-bench-done").write_text("")
    return repo


def disk_bytes(folder: Path) -> int:
    """Bytes allocated to the files under ``folder``."""
    return sum(p.lstat().st_blocks * 512 for p in folder.rglob("*"))


def agent_git(clone: Path, borrowed: Path | None, *args: str) -> None:
    """git as the agent runs it in its container (the mount stands in for by a variable)."""
    env = dict(os.environ)
    if borrowed is not None:
        env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = str(borrowed / "objects")
    subprocess.run(
        ["git", "-c", "user.name=a", "-c", "user.email=a@a", "-C", str(clone), *args],
        check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small repo, a few runs")
    parser.add_argument("--runs", type=int, help="clones per kind (default 20, quick 3)")
    parser.add_argument("--reads", type=int, help="reads after a repack (default 5, quick 2)")
    args = parser.parse_args()
    shape = QUICK if args.quick else FULL
    runs = args.runs or (3 if args.quick else 20)
    reads = args.reads or (2 if args.quick else 5)
    started = time.perf_counter()
    host = make_host(**shape)
    print(f"host repo: {shape['commits']} commits, {shape['files']} files, "
          f"{disk_bytes(host / '.git' / 'objects') / 1e6:.0f} MB of objects "
          f"(ready in {time.perf_counter() - started:.0f} s)")  # fmt: skip
    with tempfile.TemporaryDirectory(dir=CACHE) as root_name:
        root = Path(root_name)
        home = Home(root / "home")
        borrowed = borrowed_store(home, host)
        first = time.perf_counter()
        anyio.run(lend_objects, borrowed, host)
        print(f"scad's borrowed store made once: {time.perf_counter() - first:.1f} s\n")
        seconds: dict[str, list[float]] = {"full": [], "scad": [], "log": [], "read": []}
        disk: dict[str, list[int]] = {"full": [], "scad": [], "full git": [], "scad git": []}
        for n in range(runs):
            full = root / f"full-{n}"
            tick = time.perf_counter()
            subprocess.run(
                ["git", "clone", "-q", "--local", "--no-hardlinks", str(host), str(full)],
                check=True,
            )
            seconds["full"].append(time.perf_counter() - tick)
            disk["full"].append(disk_bytes(full))
            disk["full git"].append(disk_bytes(full / ".git"))
            shutil.rmtree(full)
            paths = RunPaths(home, f"r{n}")
            paths.worktrees.mkdir(parents=True)
            tick = time.perf_counter()
            anyio.run(
                functools.partial(create_clone, owner=None, borrowed=borrowed),
                host, paths.clone("code"), "scad-r",
            )  # fmt: skip
            seconds["scad"].append(time.perf_counter() - tick)
            disk["scad"].append(disk_bytes(paths.clone("code")))
            disk["scad git"].append(disk_bytes(paths.clone("code") / ".git"))
            if n < reads:
                clone = paths.clone("code")
                (clone / "agent.txt").write_text("the agent's work\n")
                agent_git(clone, borrowed, "add", "agent.txt")
                agent_git(clone, borrowed, "commit", "-qm", "agent work")
                agent_git(clone, borrowed, "repack", "-adq")
                tick = time.perf_counter()
                agent_git(clone, borrowed, "log", "--format=%H %s")
                seconds["log"].append(time.perf_counter() - tick)
                tick = time.perf_counter()
                work = anyio.run(
                    functools.partial(
                        unfetched_run_work, paths, "code", host, "scad-r", lender=borrowed
                    )
                )
                seconds["read"].append(time.perf_counter() - tick)
                assert work.total == 1, work
            shutil.rmtree(paths.root)
    report(seconds, disk, runs, reads, quick=args.quick)


def report(
    seconds: dict[str, list[float]],
    disk: dict[str, list[int]],
    runs: int,
    reads: int,
    *,
    quick: bool,
) -> None:
    med = {name: statistics.median(values) for name, values in seconds.items()}
    mb = {name: statistics.median(values) / 1e6 for name, values in disk.items()}
    rows = [
        ("clone: git clone --local --no-hardlinks", med["full"], mb["full"], mb["full git"], 1.0),
        ("clone: scad, objects borrowed", med["scad"], mb["scad"], mb["scad git"],
         med["scad"] / med["full"]),
    ]  # fmt: skip
    print(f"{'medians of ' + str(runs) + ' clones':<40}{'seconds':>9}{'ratio':>7}"
          f"{'disk MB':>10}{'.git MB':>10}")  # fmt: skip
    for name, secs, total, git_dir, ratio in rows:
        print(f"{name:<40}{secs:>9.2f}{ratio:>7.2f}{total:>10.1f}{git_dir:>10.2f}")
    print(
        f"\n{'first read after repack -ad, ' + str(reads) + ' reads':<40}{'seconds':>9}{'ratio':>7}"
    )
    print(f"{'git log in the clone':<40}{med['log']:>9.2f}{1.0:>7.2f}")
    print(f"{'scad reading its work, a new store':<40}{med['read']:>9.2f}"
          f"{med['read'] / med['log']:>7.2f}")  # fmt: skip
    clone_met = mb["scad git"] < mb["full git"] / 10 and med["scad"] <= med["full"]
    read_met = med["read"] <= 3 * med["log"]
    print(f"\ngoal: a clone's .git under 1/10 of a copy's, no slower: {_met(clone_met)}")
    print(f"goal: the first read after a repack within 3x git log:  {_met(read_met)}")
    if quick:
        print("(quick mode: a small repo; figures are not the goal's)")


def _met(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    main()
