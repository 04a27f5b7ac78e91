"""`scad batch` against the raw engine: to all results, and what its supervisor costs.

Run: .venv/bin/python benchmarks/batch.py [--rounds 3] [--live 50] [--scales 10x10,50x10]
     [--quick]

1. To all results: N headless runs of an instant prompt (`SAY: hi`), P at once
   (10 at 10, 50 at 10, 100 at 20), through `scad batch --json` with its
   supervisor in the background and with `--foreground`: seconds from the command
   until it exits with every result. Against it, the same N containers through
   the docker CLI, P at once (`docker run -d` then `docker wait`, one worker a
   slot): the same image, user, mounts and Claude command, their run directories
   made beforehand by scad. Rounds are interleaved; the ratio is taken per round,
   then the median. Goal: 1.10x. And the last of 10 runs started (from the batch's
   log) against the last of 10 `docker run -d` returned. Goal: 1.20x.
2. Where the time goes: per run of the 10-at-10 batches, the median of each phase
   as the run's and the batch's logs stamp it: the supervisor up (the command to
   the supervisor holding the batch), queued (to the run's record), prepare
   (clones, Claude state), create (the container), slot and start (attach, a free
   slot, the engine's start), first event (Claude's first line), the run (to its
   exit), and the results shown (the last end to the command's exit).
3. Supervisor cost: peak RSS and CPU seconds of a foreground batch process over
   M live runs (`SLEEP:` prompts) at once. Goal: under 150 MB and 5 CPU-seconds.

`--quick` (what CI runs): 10 at 10, one round, no supervisor cost; like the full
mode it fails only when a benchmark cannot run, never on a ratio.

Needs the Docker engine, the base image, and the test project's image (it is
built when missing). Everything runs against the offline model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio

from scad.config.loading import load_config
from scad.engine import labels, open_engine
from scad.engine._types import ContainerSpec
from scad.home import Home
from scad.image.build import build_image
from scad.runs.records import parse_iso
from scad.sessions.start import prepare_session

SCAD = str(Path(sys.executable).parent / "scad")
CERT_DIR = Path("/usr/local/share/ca-certificates")
#: (prompts, at once) of the full mode, and of --quick.
SCALES = [(10, 10), (50, 10), (100, 20)]
QUICK_SCALES = [(10, 10)]
RESULTS_GOAL, START_GOAL = 1.10, 1.20
PHASES = ["supervisor up", "queued", "prepare", "create", "slot and start", "first event",
          "run", "results shown"]  # fmt: skip


def make_project(root: Path, model_url: str) -> dict[str, str]:
    """A scad home whose config builds to the test suite's image; returns the env."""
    repo = root / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("test project\n")
    (repo / "requirements.txt").write_text("six==1.16.0\n")
    git = ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    certs = ", ".join(sorted(str(p) for p in CERT_DIR.glob("*.crt"))) if CERT_DIR.is_dir() else ""
    (root / "home" / "configs").mkdir(parents=True)
    (root / "home" / "configs" / "scadtest.yml").write_text(
        f"name: scadtest\nrepos:\n  code: {{path: {repo}, workdir: true}}\n"
        f"ca_certificates: [{certs}]\npython: {{requirements: requirements.txt}}\n"
        "network: host\nclaude:\n  dangerously_skip_permissions: true\n"
        f'  env: {{ANTHROPIC_BASE_URL: "{model_url}", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"}}\n'
    )
    (root / "host-home").mkdir()
    env = {**os.environ, "SCAD_HOME": str(root / "home"), "HOME": str(root / "host-home")}
    env["ANTHROPIC_API_KEY"] = "sk-ant-bench"
    subprocess.run([SCAD, "build", "scadtest"], check=True, env=env, stdout=subprocess.DEVNULL)
    return env


def docker_run_args(spec: ContainerSpec, name: str) -> list[str]:
    """The docker CLI's spelling of the container scad would create."""
    args = ["docker", "run", "-d", "--name", name, "--network", spec.network]
    if spec.init:
        args.append("--init")
    if spec.user:
        args += ["--user", spec.user]
    if spec.workdir:
        args += ["--workdir", spec.workdir]
    for key, value in spec.env.items():
        args += ["--env", f"{key}={value}"]
    for mount in spec.mounts:
        args += ["--mount", f"type=bind,source={mount.source},target={mount.target}"
                 + (",readonly" if mount.read_only else "")]  # fmt: skip
    if spec.limits.pids is not None:
        args += ["--pids-limit", str(spec.limits.pids)]
    if spec.security.no_new_privileges:
        args += ["--security-opt", "no-new-privileges"]
    if spec.security.cap_drop_all:
        args += ["--cap-drop", "ALL"]
    entrypoint = spec.entrypoint or []
    if entrypoint:
        args += ["--entrypoint", entrypoint[0]]
    return [*args, spec.image, *entrypoint[1:], *(spec.command or [])]


async def prepared_specs(env: dict[str, str], n: int, tag: str) -> list[ContainerSpec]:
    """N runs made by scad (their directories, clones and Claude state), not started."""
    os.environ.update({k: env[k] for k in ("SCAD_HOME", "HOME", "ANTHROPIC_API_KEY")})
    home = Home(Path(env["SCAD_HOME"]))
    config = load_config(home.config_file("scadtest"))
    async with open_engine() as engine:
        image = (await build_image(engine, home, config)).image  # up to date already: a lookup
        specs = []
        for i in range(n):
            prepared = await prepare_session(
                engine, home, config, tag=f"{tag}-{i:03d}", prompt="SAY: hi", headless=True,
                image=image,
            )  # fmt: skip
            specs.append(prepared.spec)
    return specs


def raw_engine(specs: list[ContainerSpec], parallel: int, tag: str) -> tuple[float, float]:
    """The containers through the docker CLI, ``parallel`` at once (each worker runs
    one, waits for its exit, takes the next): (the last started, all finished)."""
    names = [f"bench-raw-{tag}-{i}" for i in range(len(specs))]
    todo = list(zip(specs, names, strict=True))
    started_at: list[float] = []
    failed: list[str] = []
    lock = threading.Lock()
    began = time.perf_counter()

    def worker() -> None:
        while True:
            with lock:
                if not todo or failed:
                    return
                spec, name = todo.pop(0)
            run = subprocess.run(docker_run_args(spec, name), stdout=subprocess.DEVNULL)
            with lock:
                started_at.append(time.perf_counter() - began)
            waited = subprocess.run(["docker", "wait", name], stdout=subprocess.DEVNULL)
            if run.returncode or waited.returncode:
                with lock:
                    failed.append(name)

    workers = [threading.Thread(target=worker) for _ in range(parallel)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    finished = time.perf_counter() - began
    subprocess.run(["docker", "rm", "-f", *names], capture_output=True)
    if failed:
        raise SystemExit(f"docker run failed: {failed[0]}")
    return max(started_at), finished


class Batch:
    """One `scad batch` to all results, and what its logs say of it."""

    def __init__(self, finished: float, last_start: float, phases: dict[str, list[float]],
                 cost: dict[str, float]) -> None:  # fmt: skip
        self.finished, self.last_start, self.phases, self.cost = finished, last_start, phases, cost


def scad_batch(
    env: dict[str, str], n: int, parallel: int, tag: str, prompt: str, *, foreground: bool
) -> Batch:
    """N prompts at ``parallel`` at once, supervised in this command or in the background."""
    args = [SCAD, "batch", "scadtest", "--tag", tag, "--parallel", str(parallel), "--json"]
    args += ["--foreground"] if foreground else []
    args += [arg for _ in range(n) for arg in ("-p", prompt)]
    wall = time.time()
    began = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    finished = time.perf_counter() - began
    exited = wall + finished
    view = json.loads(output)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the batch did not succeed: {view['totals']}")
    home = Path(env["SCAD_HOME"])
    events = _lines(home / "batches" / view["batch_id"] / "events.jsonl")
    took = min(_at(e) for e in events if e["event"] == "supervisor")
    starts = {e["run_id"]: _at(e) for e in events if e["event"] == "started"}
    ends = [_at(e) for e in events if e["event"] == "attempt"]
    phases: dict[str, list[float]] = {name: [] for name in PHASES}
    phases["supervisor up"].append(took - wall)
    phases["results shown"].append(exited - max(ends))
    for run_id, started in starts.items():
        record = json.loads((home / "runs" / run_id / "run.json").read_text())
        log = _lines(home / "runs" / run_id / "events.jsonl")
        scad = {e["event"]: _at(e) for e in log if e["src"] == "scad"}
        first = min(_at(e) for e in log if e["src"] == "claude")
        made = parse_iso(record["created"]).timestamp()
        phases["queued"].append(made - took)
        phases["prepare"].append(scad["created"] - made)
        phases["create"].append(scad["started"] - scad["created"])
        phases["slot and start"].append(started - scad["started"])
        phases["first event"].append(first - started)
        phases["run"].append(scad["exited"] - first)
    cost = {"rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}
    return Batch(finished, max(starts.values()) - wall, phases, cost)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _at(event: dict[str, Any]) -> float:
    return parse_iso(event["ts"]).timestamp()


def remove_runs(env: dict[str, str]) -> None:
    """The containers this benchmark's runs left (they carry their home's label)."""
    home = labels.home_label(Home(Path(env["SCAD_HOME"])))
    found = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={labels.HOME}={home}"],
                           capture_output=True, text=True).stdout.split()  # fmt: skip
    if found:
        subprocess.run(["docker", "rm", "-f", *found], stdout=subprocess.DEVNULL)


class Samples:
    """Each case's seconds, scad's and raw's, round by round."""

    def __init__(self) -> None:
        self.pairs: dict[str, list[tuple[float, float]]] = {}
        self.phases: dict[str, dict[str, list[float]]] = {}

    def add(self, case: str, scad_s: float, raw_s: float) -> None:
        self.pairs.setdefault(case, []).append((scad_s, raw_s))

    def add_phases(self, mode: str, phases: dict[str, list[float]]) -> None:
        mine = self.phases.setdefault(mode, {name: [] for name in PHASES})
        for name, values in phases.items():
            mine[name].extend(values)


def measure(env: dict[str, str], scales: list[tuple[int, int]], rounds: int) -> Samples:
    samples = Samples()
    specs = anyio.run(prepared_specs, env, max(n for n, _ in scales), "raw")
    for round_ in range(rounds):
        for n, parallel in scales:
            print(f"round {round_ + 1}/{rounds}: {n} at {parallel}", file=sys.stderr)
            scale = f"{n} at {parallel}"
            batches = {}
            for mode in ("background", "foreground"):
                tag = f"{mode[0]}{round_}n{n}"
                batches[mode] = scad_batch(env, n, parallel, tag, "SAY: hi",
                                           foreground=mode == "foreground")  # fmt: skip
                remove_runs(env)
            raw_start, raw_finished = raw_engine(specs[:n], parallel, f"{round_}n{n}")
            for mode, batch in batches.items():
                samples.add(f"{scale}, {mode}", batch.finished, raw_finished)
                if n == 10 and parallel == 10:
                    samples.add(f"last of 10 started, {mode}", batch.last_start, raw_start)
                    samples.add_phases(mode, batch.phases)
    return samples


def print_report(samples: Samples, rounds: int) -> None:
    print(f"`scad batch` of `SAY: hi` against `docker run` (medians of {rounds} interleaved")
    print("rounds; ratio per round, then the median)")
    print(f"{'to all results':<32} {'scad s':>8} {'raw s':>8} {'ratio':>7} {'goal':>6} {'met':>5}")
    for case, pairs in samples.pairs.items():
        if case.startswith("last of 10"):
            continue
        _row(case, pairs, RESULTS_GOAL)
    for case, pairs in samples.pairs.items():
        if case.startswith("last of 10"):
            _row(case, pairs, START_GOAL)
    if not samples.phases:
        return
    print("\nwhere the time goes, 10 at 10 (median s per run)")
    modes = list(samples.phases)
    print(f"{'phase':<32}" + "".join(f" {mode:>12}" for mode in modes))
    for name in PHASES:
        cells = [samples.phases[mode][name] for mode in modes]
        print(f"{name:<32}" + "".join(f" {statistics.median(c):>12.3f}" for c in cells))


def _row(case: str, pairs: list[tuple[float, float]], goal: float) -> None:
    scad_s = statistics.median(p[0] for p in pairs)
    raw_s = statistics.median(p[1] for p in pairs)
    ratio = statistics.median(p[0] / p[1] for p in pairs)
    met = "yes" if ratio <= goal else "no"
    print(f"{case:<32} {scad_s:>8.2f} {raw_s:>8.2f} {ratio:>7.2f} {goal:>6.2f} {met:>5}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--live", type=int, default=50, help="live runs for the supervisor's cost (0: skip it)"
    )
    parser.add_argument(
        "--scales", help="prompts x at once, comma-separated (default: 10x10,50x10,100x20)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="10 at 10, one round, no supervisor cost"
    )
    options = parser.parse_args()
    if options.rounds < 1 or options.live < 0:
        parser.error("--rounds takes 1 or more, --live 0 or more")
    rounds, live = (1, 0) if options.quick else (options.rounds, options.live)
    scales = QUICK_SCALES if options.quick else SCALES
    if options.scales:
        try:
            scales = [
                (int(n), int(p)) for n, p in (s.split("x") for s in options.scales.split(","))
            ]
        except ValueError:
            parser.error("--scales takes prompts x at once, e.g. 10x10,50x10")
    root = Path(tempfile.mkdtemp(prefix="scad-bench-batch-"))
    env: dict[str, str] | None = None
    model = subprocess.Popen(
        [SCAD, "offline", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert model.stdout is not None
        url = model.stdout.readline().removeprefix("offline model listening on ").strip()
        env = make_project(root, url)
        samples = measure(env, scales, rounds)
        cost = None
        if live:
            print(f"supervising {live} live runs", file=sys.stderr)
            cost = scad_batch(env, live, live, "live", "SLEEP: 15\nSAY: done",
                              foreground=True).cost  # fmt: skip
            remove_runs(env)
    finally:
        model.terminate()
        model.wait()
        if env is not None:
            remove_runs(env)
        shutil.rmtree(root, ignore_errors=True)
    print_report(samples, rounds)
    if cost is None:
        return
    print(f"\nthe batch process over {live} live runs")
    print(f"{'peak RSS':32} {cost['rss_mb']:>8.1f} MB (goal 150)")
    print(f"{'CPU':32} {cost['cpu_s']:>8.2f} s  (goal 5)")


if __name__ == "__main__":
    main()
