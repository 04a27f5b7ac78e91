"""`scad project status` over many finished runs, with and without the summaries cached,
against `cat` of the same event logs.

Run: .venv/bin/python benchmarks/project_status.py [--runs-made N] [--lines N] [--runs N]
     [--clones N] [--engine]

Builds a scad home in a temporary folder: N runs (default 500) of one registered
config, each with an event log of about 2,000 lines shaped like a headless Claude
run's (its start, Claude's init, tool calls and their results with usage, the
result, the exit), and a config whose repo is a fresh git repository. Then times,
taking turns, the median of each:

- `cat` of every log to /dev/null (the baseline: reading the bytes once);
- `scad project status CONFIG --json` cold: every run's summary.json removed
  first (not timed), so every log is read and summed up;
- the same warm: every summary cached;
- `python -c "import scad.engine"`: the import every command that asks the engine
  pays (aiodocker, aiohttp), for scale.

The logs stay in the page cache throughout: "cold" is scad's cache, not the disk's.
Without `--engine` scad finds no engine (DOCKER_HOST names a socket that does not
exist) and states are unknown; with it, it lists the engine's containers too.
`--clones N` gives the first N runs a clone with commits ahead of the host repo, so
that counting them (a snapshot into the run's store, one rev-list) is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import anyio
from _bench import print_ratios

from scad.code.clones import create_clone
from scad.home import Home
from scad.runs.records import RunPaths, RunRecord, save_run

SCAD = str(Path(sys.executable).parent / "scad")
CONFIG = "bench"
GOAL_WARM_S = 0.3
GOAL_COLD_X_CAT = 3.0

TOOLS = [
    ("Bash", {"command": "pytest -q tests/unit", "description": "Run the unit tests"}),
    ("Read", {"file_path": "/workspace/code/src/app/models.py"}),
    ("Grep", {"pattern": "def handle_", "path": "/workspace/code/src", "output_mode": "content"}),
    ("Edit", {"file_path": "/workspace/code/src/app/views.py", "old_string": "return None",
              "new_string": "return Response(status=204)"}),
]  # fmt: skip


def usage(rng: random.Random) -> dict[str, object]:
    return {
        "input_tokens": rng.randint(1, 9),
        "cache_creation_input_tokens": rng.randint(0, 3000),
        "cache_read_input_tokens": rng.randint(10_000, 90_000),
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": rng.randint(20, 900),
        "service_tier": "standard",
    }


def message(session: str, n: int, content: list[object], rng: random.Random) -> dict[str, object]:
    return {
        "type": "assistant",
        "message": {
            "id": f"msg_01{n:022d}", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5-20250929", "content": content, "stop_reason": None,
            "stop_sequence": None, "usage": usage(rng), "context_management": None,
        },
        "parent_tool_use_id": None, "session_id": session,
        "uuid": f"{rng.getrandbits(128):032x}",
    }  # fmt: skip


def claude_lines(session: str, lines: int, rng: random.Random) -> list[dict[str, object]]:
    """What `claude -p --output-format stream-json --verbose` prints in a run of ``lines``."""
    out: list[dict[str, object]] = [
        {"type": "system", "subtype": "init", "cwd": "/workspace/code", "session_id": session,
         "tools": ["Bash", "Edit", "Glob", "Grep", "Read", "Write", "TodoWrite", "WebFetch"],
         "mcp_servers": [], "model": "claude-sonnet-4-5-20250929", "permissionMode": "default",
         "slash_commands": ["compact", "review"], "apiKeySource": "ANTHROPIC_API_KEY",
         "claude_code_version": "2.1.332", "output_style": "default", "agents": [],
         "plugins": [], "uuid": f"{rng.getrandbits(128):032x}"},
    ]  # fmt: skip
    n = 0
    while len(out) < lines - 2:
        n += 1
        if n % 5 == 0:
            text = "I'll look at how the handlers are wired before changing the view. " * 3
            out.append(message(session, n, [{"type": "text", "text": text}], rng))
            continue
        name, tool_input = TOOLS[n % len(TOOLS)]
        tool_id = f"toolu_01{n:022d}"
        block = {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}
        out.append(message(session, n, [block], rng))
        output = "".join(f"src/app/module_{i}.py:{i}: def handle_{i}(request):\n"
                         for i in range(rng.randint(2, 30)))  # fmt: skip
        result = {"tool_use_id": tool_id, "type": "tool_result", "content": output,
                  "is_error": False}  # fmt: skip
        out.append({
            "type": "user", "message": {"role": "user", "content": [result]},
            "parent_tool_use_id": None, "session_id": session,
            "uuid": f"{rng.getrandbits(128):032x}",
            "tool_use_result": {"stdout": output, "stderr": "", "interrupted": False,
                                "isImage": False},
        })  # fmt: skip
    out.append({
        "type": "result", "subtype": "success", "is_error": False,
        "duration_ms": rng.randint(60_000, 900_000), "duration_api_ms": 50_000,
        "num_turns": n, "result": "Done: the view returns 204 and the tests pass.",
        "session_id": session, "total_cost_usd": round(rng.uniform(0.2, 4.0), 6),
        "usage": {"input_tokens": 2 * n, "cache_creation_input_tokens": 40_000,
                  "cache_read_input_tokens": 1_500_000, "output_tokens": 30 * n,
                  "server_tool_use": {"web_search_requests": 0}, "service_tier": "standard"},
        "permission_denials": [], "uuid": f"{rng.getrandbits(128):032x}",
    })  # fmt: skip
    return out


def event_log(run_id: str, lines: int, rng: random.Random) -> bytes:
    """A finished headless run's events.jsonl, as scad writes it."""
    cid = f"{rng.getrandbits(48):012x}"
    parts: list[bytes] = []

    def put(fields: dict[str, object], data: bytes | None = None) -> None:
        seq = len(parts) + 1
        ts = f"2026-11-27T10:{seq // 60 % 60:02d}:{seq % 60:02d}.{seq % 1000:03d}Z"
        head = json.dumps({"seq": seq, "ts": ts, **fields}, separators=(",", ":"))
        body = head[:-1] + (',"data":' + data.decode() + "}" if data is not None else "}")
        parts.append(body.encode() + b"\n")

    put(
        {
            "src": "scad",
            "event": "created",
            "detail": f"image scad-{CONFIG}:x, branch scad-{run_id}",
        }
    )
    put({"src": "scad", "event": "started", "cid": cid})
    session = f"{rng.getrandbits(128):032x}"
    for n, data in enumerate(claude_lines(session, lines - 3, rng)):
        put({"src": "claude", "cid": cid, "n": n}, json.dumps(data, separators=(",", ":")).encode())
    put({"src": "scad", "event": "exited", "cid": cid, "exit_code": 0})
    return b"".join(parts)


def make_home(root: Path, runs: int, lines: int, clones: int) -> tuple[Home, list[Path]]:
    repo = root / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git = ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    home = Home(root / "home")
    home.configs.mkdir(parents=True)
    home.config_file(CONFIG).write_text(
        f"name: {CONFIG}\nrepos:\n  code:\n    path: {repo}\n    workdir: true\n"
    )
    rng = random.Random(7)
    logs = []
    for n in range(runs):
        run_id = f"{CONFIG}-r{n:03d}-Nov27-1000"
        record = RunRecord(
            run_id=run_id, config=CONFIG, tag=f"r{n:03d}", mode="headless",
            image=f"scad-{CONFIG}:x", branch=f"scad-{run_id}",
            created=f"2026-11-27T10:00:{n % 60:02d}.{n:03d}Z", repos={"code": str(repo)},
        )  # fmt: skip
        paths = RunPaths(home, run_id)
        paths.root.mkdir(parents=True, mode=0o700)
        save_run(home, record)
        paths.events.write_bytes(event_log(run_id, lines, rng))
        logs.append(paths.events)
        if n < clones:
            paths.worktrees.mkdir()
            anyio.run(partial(create_clone, owner=None), repo, paths.clone("code"), record.branch)
            clone_git = ["git", "-C", str(paths.clone("code")), "-c", "user.name=a",
                         "-c", "user.email=a@a", "commit", "-q", "--allow-empty", "-m", "work"]  # fmt: skip
            subprocess.run(clone_git, check=True)
    return home, logs


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds ``command`` takes (its warning that no engine answers is not shown)."""
    started = time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    return time.perf_counter() - started


def forget_summaries(home: Home) -> None:
    for run_id in home.run_ids():
        (home.run_dir(run_id) / "summary.json").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-made", type=int, default=500, help="runs in the home")
    parser.add_argument("--lines", type=int, default=2000, help="event lines per run")
    parser.add_argument("--runs", type=int, default=7, help="timed rounds")
    parser.add_argument("--clones", type=int, default=0, help="runs given a clone")
    parser.add_argument("--engine", action="store_true", help="let scad ask the Docker engine")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        started = time.perf_counter()
        home, logs = make_home(root, args.runs_made, args.lines, args.clones)
        size = sum(log.stat().st_size for log in logs)
        print(f"{len(logs)} runs, {args.lines} lines each, {size / 1e6:.0f} MB of logs "
              f"(made in {time.perf_counter() - started:.1f}s)", flush=True)  # fmt: skip
        env = {**os.environ, "SCAD_HOME": str(home.root)}
        # As an installed scad runs: its modules' bytecode cached, not compiled every time.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if not args.engine:
            env["DOCKER_HOST"] = f"unix://{root}/no-engine.sock"
        status = [SCAD, "project", "status", CONFIG, "--json"]
        out = subprocess.run(status, env=env, check=True, capture_output=True).stdout
        totals = json.loads(out)["totals"]
        assert totals["runs"] == args.runs_made, totals
        print(f"totals: {totals['turns']} turns, ${totals['cost_usd']:.2f}", flush=True)
        commands = {
            "cat of every log (baseline)": ["cat", *map(str, logs)],
            "scad project status, cold": status,
            "scad project status, warm": status,
            "import scad.engine (for scale)": [sys.executable, "-c", "import scad.engine"],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                if name.endswith("cold"):
                    forget_summaries(home)  # not timed
                samples[name].append(timed(command, env))
    print()
    print_ratios(samples, "cat of every log (baseline)")
    medians = {name: statistics.median(values) for name, values in samples.items()}
    warm = medians["scad project status, warm"]
    cold = medians["scad project status, cold"] / medians["cat of every log (baseline)"]
    print()
    print(
        f"goal: warm under {GOAL_WARM_S}s: {warm:.3f}s, {'met' if warm < GOAL_WARM_S else 'MISSED'}"
    )
    print(f"goal: cold within {GOAL_COLD_X_CAT:.0f}x of cat: {cold:.2f}x, "
          f"{'met' if cold <= GOAL_COLD_X_CAT else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
