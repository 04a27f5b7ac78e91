"""Judging a batch's runs with the config's checks, against running them by hand.

Run: .venv/bin/python benchmarks/checks.py [--runs 20] [--parallel 4] [--rounds 5]
(where others share the engine, under their lock: flock /tmp/scad-engine.lock ...)

Once, outside the timing: the test project's image (built when missing) and a batch
of N headless runs (default 20), each of which committed a unit test of its own,
against the offline model. Then the config gets one check,
``python3 -m unittest discover -s tests``, and each round times, interleaved:

- scad: ``check_run`` of every run, ``--parallel`` (default 4) at once under a
  capacity limiter, as the batch checks a run that succeeded: the run's log caught up,
  its clone read into its store, a fresh checkout of its commit written, the check's
  container made, attached, started, waited on and removed, and its verdict logged;
- baseline: the same command in N ``docker run --rm`` of the same image, user,
  limits and hardening, with no network and the same checkout mounted where a run
  sees it, the same number at once, through the docker CLI. Its checkouts are
  written beforehand, outside the timing (what scad does there is its own cost).

Every check must pass in both. Prints each round's seconds and ratio, and the
medians; goal: at most 1.2x. Needs the Docker engine and the base image.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
from _bench import arguments
from batch import SCAD, docker_run_args, make_project, remove_runs

from scad.checks.checkout import write_checkout
from scad.checks.container import check_spec
from scad.checks.run import check_run, run_sources
from scad.config.loading import load_config
from scad.config.schema import Config
from scad.engine import Engine, open_engine
from scad.home import Home
from scad.runs.records import RunRecord, load_run

CHECK = "python3 -m unittest discover -s tests"
#: Each run commits a passing test of its own.
PROMPT = (
    "RUN: mkdir -p tests && printf 'import unittest\\n\\n\\nclass T(unittest.TestCase):\\n"
    "    def test_ok(self):\\n        self.assertTrue(True)\\n' > tests/test_ok.py"
    " && git add -A && git commit -qm 'a test'\nSAY: done"
)
GOAL = 1.2


def make_runs(env: dict[str, str], n: int, parallel: int) -> list[str]:
    """A foreground batch of ``n`` runs that each commit a test; their run ids."""
    args = [SCAD, "batch", "scadtest", "--tag", "c", "--parallel", str(parallel), "--foreground"]
    args += [arg for _ in range(n) for arg in ("-p", PROMPT)]
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)
    home = Home(Path(env["SCAD_HOME"]))
    return sorted(path.name for path in home.runs.iterdir() if path.is_dir())


def add_check(env: dict[str, str]) -> None:
    config_file = Path(env["SCAD_HOME"]) / "configs" / "scadtest.yml"
    with config_file.open("a") as out:
        out.write(f'checks:\n  - {{name: tests, run: "{CHECK}"}}\n')


def loaded(env: dict[str, str], run_ids: list[str]) -> tuple[Home, Config, list[RunRecord]]:
    home = Home(Path(env["SCAD_HOME"]))
    config = load_config(home.config_file("scadtest"))
    return home, config, [load_run(home, run_id) for run_id in run_ids]


async def scad_checks(env: dict[str, str], run_ids: list[str], parallel: int) -> float:
    """Seconds for ``check_run`` of every run, ``parallel`` at once."""
    home, config, records = loaded(env, run_ids)
    limiter = anyio.CapacityLimiter(parallel)
    failed: list[str] = []

    async def check(engine: Engine, record: RunRecord) -> None:
        async with limiter:
            report = await check_run(engine, home, config, record)
        if report is None or not report.passed:
            failed.append(record.run_id)

    async with open_engine() as engine:  # the batch's is open already
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for record in records:
                group.start_soon(check, engine, record)
        seconds = time.perf_counter() - started
    if failed:
        raise SystemExit(f"checks did not pass for {failed}")
    return seconds


async def by_hand_commands(env: dict[str, str], run_ids: list[str], root: Path) -> list[list[str]]:
    """The ``docker run --rm`` of each run's check, its checkout written under ``root``."""
    home, config, records = loaded(env, run_ids)
    check = config.checks[0]
    commands = []
    for record in records:
        sources = await run_sources(home, record)
        assert sources is not None
        checkouts = {}
        for source in sources:
            dest = root / record.run_id / source.repo
            dest.parent.mkdir(exist_ok=True)
            await write_checkout(Path(source.git_dir), source.commit, None, [], dest)
            checkouts[source.repo] = str(dest)
        spec = check_spec(
            home, config, record.image, name=check.name, run=check.run, checkouts=checkouts,
            folder=str(root / record.run_id),
        )  # fmt: skip
        args = docker_run_args(spec, spec.name)
        commands.append(["docker", "run", "--rm", *args[3:]])
    return commands


def by_hand(commands: list[list[str]], parallel: int) -> float:
    """Seconds for every command, ``parallel`` at once."""

    def one(command: list[str]) -> int:
        return subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ).returncode

    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        codes = list(pool.map(one, commands))
    seconds = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"a check run by hand did not pass: {codes}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs judged")
    parser.add_argument("--parallel", type=int, default=4, help="checks at once")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    options = arguments(parser, runs=4, parallel=2, rounds=1)
    if min(options.runs, options.parallel, options.rounds) < 1:
        parser.error("--runs, --parallel and --rounds take 1 or more")
    root = Path(tempfile.mkdtemp(prefix="scad-bench-checks-"))
    env: dict[str, str] | None = None
    model = subprocess.Popen(
        [SCAD, "offline", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    rounds: list[tuple[float, float]] = []
    try:
        assert model.stdout is not None
        url = model.stdout.readline().removeprefix("offline model listening on ").strip()
        env = make_project(root, url)
        os.environ.update({k: env[k] for k in ("SCAD_HOME", "HOME", "ANTHROPIC_API_KEY")})
        print(f"making {options.runs} runs that commit", file=sys.stderr)
        run_ids = make_runs(env, options.runs, options.parallel)
        remove_runs(env)
        add_check(env)
        (root / "checkouts").mkdir()
        commands = anyio.run(by_hand_commands, env, run_ids, root / "checkouts")
        for round_ in range(options.rounds):
            print(f"round {round_ + 1}/{options.rounds}", file=sys.stderr)
            ours = anyio.run(scad_checks, env, run_ids, options.parallel)
            rounds.append((ours, by_hand(commands, options.parallel)))
    finally:
        model.terminate()
        if env is not None:
            remove_runs(env)
        shutil.rmtree(root, ignore_errors=True)
    print(f"{options.runs} runs judged by `{CHECK}`, {options.parallel} at once")
    print(f"{'round':<8} {'check_run s':>12} {'docker run s':>12} {'ratio':>6}")
    for n, (ours, raw) in enumerate(rounds, 1):
        print(f"{n:<8} {ours:>12.2f} {raw:>12.2f} {ours / raw:>6.2f}")
    ours_median = statistics.median(o for o, _ in rounds)
    raw_median = statistics.median(r for _, r in rounds)
    ratio = statistics.median(o / r for o, r in rounds)
    print(f"{'median':<8} {ours_median:>12.2f} {raw_median:>12.2f} {ratio:>6.2f}  (goal {GOAL})")


if __name__ == "__main__":
    main()
