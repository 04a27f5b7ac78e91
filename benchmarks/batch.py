"""`scad batch` against the raw engine, and what its supervisor costs.

Run: .venv/bin/python benchmarks/batch.py [--runs 20] [--live 50] [--rounds 3]

1. Launch: N headless runs of an instant prompt (`SAY: hi`) with --parallel N.
   Seconds from the command until all have started and until all have finished,
   against N concurrent `docker run` of the same image, user, mounts and Claude
   command through the docker CLI (their run directories made beforehand, by
   scad, so the mounts are the same). Goal: at most 1.3x on both.
2. Supervisor cost: peak RSS and CPU seconds of a foreground batch process over
   M live runs (`SLEEP:` prompts) at once. Goal: under 150 MB and 5 CPU-seconds.

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
import time
from pathlib import Path

import anyio

from scad.config.schema import load_config
from scad.engine._client import open_engine
from scad.engine._types import ContainerSpec
from scad.home import Home
from scad.image.build import build_image
from scad.runs.records import parse_iso
from scad.sessions.start import prepare_session

SCAD = str(Path(sys.executable).parent / "scad")
CERT_DIR = Path("/usr/local/share/ca-certificates")


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
    os.environ.update({k: env[k] for k in ("SCAD_HOME", "HOME", "ANTHROPIC_API_KEY")})
    home = Home(Path(env["SCAD_HOME"]))
    config = load_config(home.config_file("scadtest"))
    async with open_engine() as engine:
        image = (await build_image(engine, home, config)).image  # up to date already: a lookup
        specs = []
        for i in range(n):
            prepared = await prepare_session(
                engine, home, config, tag=f"{tag}-{i:02d}", prompt="SAY: hi", headless=True,
                image=image,
            )  # fmt: skip
            specs.append(prepared.spec)
    return specs


def raw_engine(env: dict[str, str], n: int, tag: str) -> tuple[float, float]:
    """N concurrent `docker run -d`, then `docker wait` on all: (all started, all finished)."""
    specs = anyio.run(prepared_specs, env, n, tag)
    names = [f"bench-raw-{tag}-{i}" for i in range(n)]
    started = time.perf_counter()
    runs = [subprocess.Popen(docker_run_args(s, name), stdout=subprocess.DEVNULL)
            for s, name in zip(specs, names, strict=True)]  # fmt: skip
    for process in runs:
        if process.wait() != 0:
            raise SystemExit("docker run failed")
    all_started = time.perf_counter() - started
    subprocess.run(["docker", "wait", *names], check=True, stdout=subprocess.DEVNULL)
    all_finished = time.perf_counter() - started
    subprocess.run(["docker", "rm", "-f", *names], check=True, stdout=subprocess.DEVNULL)
    return all_started, all_finished


def scad_batch(
    env: dict[str, str], n: int, tag: str, prompt: str, *, parallel: int | None = None
) -> tuple[float, float, dict[str, float]]:
    """A foreground batch of N prompts at --parallel N (or ``parallel``): (all started,
    all finished, its rusage)."""
    at_once = str(min(n, parallel or n))
    args = [
        SCAD,
        "batch",
        "scadtest",
        "--tag",
        tag,
        "--parallel",
        at_once,
        "--foreground",
        "--json",
    ]
    args += [arg for _ in range(n) for arg in ("-p", prompt)]
    wall = time.time()
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    all_finished = time.perf_counter() - started
    view = json.loads(output)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the batch did not succeed: {view['totals']}")
    events_file = Path(env["SCAD_HOME"]) / "batches" / view["batch_id"] / "events.jsonl"
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    last_start = max(parse_iso(e["ts"]).timestamp() for e in events if e["event"] == "started")
    cost = {"rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}
    return last_start - wall, all_finished, cost


def remove_runs(env: dict[str, str]) -> None:
    """The containers this benchmark's runs left (they carry their run's label)."""
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=scad.run"],
                         capture_output=True, text=True).stdout.split()  # fmt: skip
    mine = [c for c in out if _is_mine(c, env)]
    if mine:
        subprocess.run(["docker", "rm", "-f", *mine], stdout=subprocess.DEVNULL)


def _is_mine(container: str, env: dict[str, str]) -> bool:
    label = subprocess.run(["docker", "inspect", "-f", '{{index .Config.Labels "scad.run"}}', container],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return (Path(env["SCAD_HOME"]) / "runs" / label).is_dir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs launched at once")
    parser.add_argument(
        "--live", type=int, default=50, help="live runs for the supervisor's cost (0: skip it)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the launch")
    options = parser.parse_args()
    if options.runs < 1 or options.rounds < 1 or options.live < 0:
        parser.error("--runs and --rounds take 1 or more, --live 0 or more")
    root = Path(tempfile.mkdtemp(prefix="scad-bench-batch-"))
    env: dict[str, str] | None = None
    model = subprocess.Popen(
        [SCAD, "offline", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert model.stdout is not None
        url = model.stdout.readline().removeprefix("offline model listening on ").strip()
        env = make_project(root, url)
        raw: list[tuple[float, float]] = []
        ours: list[tuple[float, float]] = []
        for round_ in range(options.rounds):
            print(f"round {round_ + 1}/{options.rounds}", file=sys.stderr)
            ours.append(scad_batch(env, options.runs, f"l{round_}", "SAY: hi")[:2])
            raw.append(raw_engine(env, options.runs, f"r{round_}"))
            remove_runs(env)
        cost = None
        if options.live:
            print(f"supervising {options.live} live runs", file=sys.stderr)
            cost = scad_batch(env, options.live, "live", "SLEEP: 15\nSAY: done")[2]
            remove_runs(env)
    finally:
        model.terminate()
        if env is not None:
            remove_runs(env)
        shutil.rmtree(root, ignore_errors=True)
    started = (statistics.median(o[0] for o in ours), statistics.median(r[0] for r in raw))
    finished = (statistics.median(o[1] for o in ours), statistics.median(r[1] for r in raw))
    print(
        f"{options.runs} runs of `SAY: hi`, --parallel {options.runs} (medians of {options.rounds})"
    )
    print(f"{'':22} {'scad batch s':>12} {'docker run s':>12} {'ratio':>6} {'goal':>6}")
    for name, (scad_s, raw_s) in (("all started", started), ("all finished", finished)):
        print(f"{name:22} {scad_s:>12.2f} {raw_s:>12.2f} {scad_s / raw_s:>6.2f} {'1.30':>6}")
    if cost is None:
        return
    print(f"\nthe batch process over {options.live} live runs")
    print(f"{'peak RSS':22} {cost['rss_mb']:>9.1f} MB (goal 150)")
    print(f"{'CPU':22} {cost['cpu_s']:>9.2f} s  (goal 5)")


if __name__ == "__main__":
    main()
