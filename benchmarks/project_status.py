"""`scad project status` over many finished runs, with and without the summaries cached,
against `cat` of the same event logs.

Run: .venv/bin/python benchmarks/project_status.py [--runs-made N] [--lines N] [--runs N]
     [--clones N] [--engine] [--quick]

Builds a scad home in a temporary folder: N runs (default 500) of one registered
config, each with an event log of about 2,000 lines shaped like a headless Claude
run's (its start, Claude's init, tool calls and their results with usage, the
result, the exit), and a config whose repo is a fresh git repository. Then times,
taking turns, the median of each:

- `cat` of every log to /dev/null (the baseline: reading the bytes once);
- `scad project status CONFIG --json` cold, the first look after the runs: each
  run's summary as its writer kept it when the run's container ended, and one
  event (a fetch) appended to every log since (not timed), so each look reads on
  past the summary;
- the same warm: every summary up to date;
- the same with nothing summed up: every run's summary.json removed first (not
  timed), so every log is read and folded whole (the rare case: a run of an
  earlier version, a summary lost);
- `python -c "import scad.engine"`: the import every command that asks the engine
  pays (aiodocker, aiohttp), for scale.

The logs stay in the page cache throughout: "cold" is scad's cache, not the disk's.
Without `--engine` scad finds no engine (DOCKER_HOST names a socket that does not
exist) and states are unknown; with it, it lists the engine's containers too.
`--clones N` gives the first N runs a clone with commits ahead of the host repo, so
that counting them (a snapshot into the run's store, one rev-list) is timed too.
`--quick` (what CI runs): 50 runs of 500 lines, 3 rounds; it fails only when it
cannot run, never on a goal.
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
from _bench import arguments, print_goals, print_ratios

from scad.code.clones import create_clone
from scad.home import Home
from scad.runs.records import RunPaths, RunRecord, save_run
from scad.runs.summaries import keep_summary

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
        for name in ("summary.json", "fold.json"):
            (home.run_dir(run_id) / name).unlink(missing_ok=True)


def keep_summaries(home: Home) -> dict[Path, bytes]:
    """Each run's summary (and the fold it came from) as its writer keeps it when
    the container's output ends."""
    kept = {}
    for run_id in home.run_ids():
        paths = RunPaths(home, run_id)
        keep_summary(paths)
        for name in ("summary.json", "fold.json"):
            if (paths.root / name).exists():  # no fold.json: no message counted
                kept[paths.root / name] = (paths.root / name).read_bytes()
    return kept


def as_the_writer_left_them(home: Home, kept: dict[Path, bytes], round: int) -> None:
    """The writers' summaries back, and one event more in every log (a fetch)."""
    for path, data in kept.items():
        path.write_bytes(data)
    seq = 100_000 + round
    line = (f'{{"seq":{seq},"ts":"2026-11-27T11:00:00.000Z","src":"scad","event":"fetched",'
            '"detail":"code"}\n')  # fmt: skip
    for run_id in home.run_ids():
        with open(RunPaths(home, run_id).events, "a") as log:
            log.write(line)


COLD = "status, cold: first look after"
WARM = "status, warm"
REBUILT = "status, nothing summed up"
CAT = "cat of every log (baseline)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-made", type=int, default=500, help="runs in the home")
    parser.add_argument("--lines", type=int, default=2000, help="event lines per run")
    parser.add_argument("--runs", type=int, default=7, help="timed rounds")
    parser.add_argument("--clones", type=int, default=0, help="runs given a clone")
    parser.add_argument("--engine", action="store_true", help="let scad ask the Docker engine")
    args = arguments(parser, runs_made=50, lines=500, runs=3)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        started = time.perf_counter()
        home, logs = make_home(root, args.runs_made, args.lines, args.clones)
        size = sum(log.stat().st_size for log in logs)
        print(f"{len(logs)} runs, {args.lines} lines each, {size / 1e6:.0f} MB of logs "
              f"(made in {time.perf_counter() - started:.1f}s)", flush=True)  # fmt: skip
        started = time.perf_counter()
        kept = keep_summaries(home)
        writer = (time.perf_counter() - started) / len(logs)
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
            CAT: ["cat", *map(str, logs)],
            COLD: status,
            WARM: status,
            REBUILT: status,
            "import scad.engine (for scale)": [sys.executable, "-c", "import scad.engine"],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for round in range(args.runs):
            for name, command in commands.items():
                if name == COLD:
                    as_the_writer_left_them(home, kept, round)  # not timed
                if name == REBUILT:
                    forget_summaries(home)  # not timed
                samples[name].append(timed(command, env))
                if name == REBUILT:
                    assert json.loads(subprocess.run(status, env=env, check=True,
                                      capture_output=True).stdout)["totals"] == totals  # fmt: skip
    print()
    print_ratios(samples, CAT)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    cold = medians[COLD] / medians[CAT]
    print(f"\nthe writer's summing up as a run ends: {writer * 1000:.1f} ms a run\n")
    print_goals([
        ("cold status, x cat", f"<= {GOAL_COLD_X_CAT:.0f}x", f"{cold:.2f}x",
         cold <= GOAL_COLD_X_CAT),
        ("warm status", f"< {GOAL_WARM_S} s", f"{medians[WARM]:.3f} s",
         medians[WARM] < GOAL_WARM_S),
        ("nothing summed up, x cat (rare)", "(no goal)",
         f"{medians[REBUILT] / medians[CAT]:.2f}x", None),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
