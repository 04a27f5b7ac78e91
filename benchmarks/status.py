"""`scad session status --all` over finished runs, against `docker ps -a` of the same containers.

Run: .venv/bin/python benchmarks/status.py [--sessions N] [--runs N]
Needs a Docker engine and the base image (see .ci/run); the runs are headless
sessions against the offline model. Prints medians and the ratio to the
baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import arguments, print_ratios, remove_images, sample_interleaved

SCAD = str(Path(sys.executable).parent / "scad")
CERTS = sorted(str(p) for p in Path("/usr/local/share/ca-certificates").glob("*.crt"))


def scad(env: dict[str, str], *args: str) -> str:
    return subprocess.run([SCAD, *args], check=True, capture_output=True, text=True, env=env).stdout


def make_project(root: Path, url: str) -> dict[str, str]:
    repo = root / "repo"
    repo.mkdir()
    (repo / "requirements.txt").write_text("six==1.16.0\n")
    git = ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    configs = root / "home" / "configs"
    configs.mkdir(parents=True)
    configs.joinpath("bench.yml").write_text(
        f"name: bench\nrepos: {{code: {{path: {repo}, workdir: true}}}}\n"
        f"ca_certificates: [{', '.join(CERTS)}]\n"
        "python: {requirements: requirements.txt}\nnetwork: host\n"
        f"claude: {{dangerously_skip_permissions: true, env: {{ANTHROPIC_BASE_URL: '{url}'}}}}\n"
    )
    return {**os.environ, "SCAD_HOME": str(root / "home"), "ANTHROPIC_API_KEY": "offline"}


def wait_until_finished(env: dict[str, str]) -> int:
    while True:
        sessions = json.loads(scad(env, "session", "status", "--all", "--json"))["sessions"]
        if all(s["state"] != "running" for s in sessions):
            return len(sessions)
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10)
    args = arguments(parser, sessions=2, runs=3)
    serve = subprocess.Popen(
        [SCAD, "offline", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert serve.stdout is not None
        url = serve.stdout.readline().removeprefix("offline model listening on ").strip()
        with tempfile.TemporaryDirectory() as root:
            env = make_project(Path(root), url)
            try:
                print(f"starting {args.sessions} headless sessions ...", flush=True)
                for n in range(args.sessions):
                    scad(env, "session", "start", "bench", "--tag", f"b{n}", "--headless",
                         "--prompt", "RUN: echo hello\nSAY: done")  # fmt: skip
                print(f"{wait_until_finished(env)} sessions finished; timing", flush=True)
                commands = {
                    "docker ps -a (baseline)": [
                        "docker",
                        "ps",
                        "-a",
                        "--filter",
                        "label=scad.config=bench",
                    ],
                    "scad status --all": [SCAD, "session", "status", "--all", "--json"],
                }
                samples = sample_interleaved(commands, args.runs, env)
            finally:
                subprocess.run([SCAD, "session", "clean", "--all", "--yes", "--force"],
                               env=env, capture_output=True)  # fmt: skip
                remove_images("scad-bench")
    finally:
        serve.terminate()
        serve.wait()
    print()
    print_ratios(samples, "docker ps -a (baseline)")


if __name__ == "__main__":
    main()
