"""The event log's read path, and catching a run up from the engine.

Run: .venv/bin/python benchmarks/log_pipeline.py [--quick] [--lines N] [--runs N] [--no-engine]

1. Render N stream-json lines (default 100,000) of a run's log the way
   `session logs` does (chunked reads, typed decoding, one readable line each),
   and only decode them (what status and accounting need), against a plain
   `json.loads` loop over the same lines.
2. Catch up finished runs of 100k and 1M lines from the engine into a fresh event
   log, against `docker logs CONTAINER | wc -l` (needs the engine and the base
   image), and the peak RSS of a process doing it for 10k, 100k and 1M lines
   (flat: the catch-up streams). `--quick`: 10k lines, and RSS at 1k and 10k; it
   fails only when it cannot run, never on a ratio.

Medians of interleaved runs, and ratios to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple

import anyio
from _bench import print_ratios

from scad.home import Home
from scad.runs.activity import activity_lines
from scad.runs.events import LogLine, ingest
from scad.runs.logread import read_events
from scad.runs.records import RunPaths, RunRecord
from scad.runs.streamjson import claude_event

BASE_IMAGE = "python:3.11-slim"


def stream_json(n: int) -> list[str]:
    """Lines shaped like a Claude run's: assistant text and tool calls, tool results."""
    lines = []
    for i in range(n):
        if i % 3 == 0:
            block = {
                "type": "tool_use",
                "id": f"t{i}",
                "name": "Bash",
                "input": {"command": f"ls {i}"},
            }
            data = {"type": "assistant", "message": {"id": f"m{i}", "content": [block],
                    "usage": {"input_tokens": 10, "output_tokens": 5}}}  # fmt: skip
        elif i % 3 == 1:
            result = {"type": "tool_result", "tool_use_id": f"t{i - 1}", "content": "a.txt\nb.txt"}
            data = {"type": "user", "message": {"role": "user", "content": [result]}}
        else:
            text = {"type": "text", "text": f"Step {i} went fine; moving on to the next one."}
            data = {"type": "assistant", "message": {"id": f"m{i}", "content": [text]}}
        lines.append(json.dumps(data))
    return lines


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def read_path(paths: RunPaths, render: bool) -> Callable[[], object]:
    async def go() -> int:
        count, offset = 0, 0
        while True:
            envelopes, after = await read_events(paths, offset)
            if after == offset:
                return count
            offset = after
            for envelope in envelopes:
                if render:
                    count += len(activity_lines(envelope))
                else:
                    count += claude_event(envelope) is not None
        return count

    return lambda: anyio.run(go)


def pipeline(root: Path, n: int, runs: int) -> None:
    paths = RunPaths(Home(root), "bench")
    paths.root.mkdir(parents=True)
    raw = stream_json(n)
    # Spread over an hour, as a busy agent's run is: about 28 lines a second.
    stamps = [
        f"2026-11-27T10:{i * 3600 // n // 60:02d}:{i * 3600 // n % 60:02d}.{i % 1000:03d}Z"
        for i in range(n)
    ]
    anyio.run(
        ingest,
        paths,
        "c" * 12,
        0,
        [LogLine(ts, t.encode()) for ts, t in zip(stamps, raw, strict=True)],
    )
    log = paths.events

    def baseline() -> None:
        with open(log, "rb") as f:
            for line in f:
                json.loads(line)

    actions = {
        "json.loads loop (baseline)": baseline,
        "scad: read + decode": read_path(paths, render=False),
        "scad: read + render (session logs)": read_path(paths, render=True),
    }
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            samples[name].append(timed(action))
    print(f"\n1. the log's read path over {n} stream-json lines")
    print_ratios(samples, "json.loads loop (baseline)")
    for name, values in samples.items():
        print(f"   {name}: {n / statistics.median(values):,.0f} lines/s")


#: Goals: catch-up time against `docker logs | wc -l`, and peak RSS against 10k lines'.
TIME_GOAL = 1.5
RSS_GOAL = 1.2


def run_container(n: int) -> str:
    """A finished container that printed ``n`` stream-json lines."""
    line = json.dumps(json.loads(stream_json(1)[0]))
    script = f"import sys\nline = {line!r} + '\\n'\nsys.stdout.write(line * {n})\n"
    container = subprocess.run(
        ["docker", "run", "-d", "--label", "scad.bench=1", BASE_IMAGE, "python3", "-c", script],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(["docker", "wait", container], check=True, capture_output=True)
    return container


def catch_up_once(root: Path, container: str) -> int:
    """Catch a fresh log up from ``container``; the lines it holds afterwards."""
    from scad.engine import open_engine
    from scad.runs.catchup import catch_up

    home = Home(root)
    shutil.rmtree(home.root, ignore_errors=True)
    RunPaths(home, "bench").root.mkdir(parents=True)
    record = RunRecord(run_id="bench", config="b", tag="b", mode="headless", image="i",
                       branch="b", created="", repos={}, container_id=container)  # fmt: skip

    async def go() -> None:
        async with open_engine() as engine:
            await catch_up(engine, home, record)

    anyio.run(go)
    with open(RunPaths(home, "bench").events, "rb") as log:
        return sum(block.count(b"\n") for block in iter(lambda: log.read(1 << 20), b""))


def peak_rss_mb(root: Path, container: str) -> float:
    """The peak RSS of a process that imports scad and catches ``container`` up."""
    out = subprocess.run(
        [sys.executable, __file__, "--rss-of", container, "--root", str(root)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return float(out.split()[-1])


def docker_logs(container: str) -> None:
    subprocess.run(f"docker logs {container} | wc -l", shell=True, check=True, capture_output=True)


def catch_up_bench(root: Path, sizes: list[int], runs: int, rss_sizes: list[int]) -> list[Row]:
    rows: list[Row] = []
    rss: dict[int, float] = {}
    for n in sorted(set(sizes) | set(rss_sizes)):
        container = run_container(n)
        try:
            if n in rss_sizes:
                rss[n] = peak_rss_mb(root / "rss", container)
            if n not in sizes:
                continue
            ours: list[float] = []
            floor: list[float] = []
            for _ in range(runs):
                floor.append(timed(partial(docker_logs, container)))
                started = time.perf_counter()
                lines = catch_up_once(root / "catchup", container)
                ours.append(time.perf_counter() - started)
                assert lines == n + 1, lines  # every line, and the exit
            scad_s, floor_s = statistics.median(ours), statistics.median(floor)
            rows.append(Row(f"catch-up {n:,} lines", f"{scad_s:.2f} s", f"{floor_s:.2f} s",
                            scad_s / floor_s, TIME_GOAL))  # fmt: skip
        finally:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    if rss:
        first = min(rss)
        for n, mb in sorted(rss.items()):
            rows.append(Row(f"peak RSS, {n:,} lines", f"{mb:.0f} MB", f"{rss[first]:.0f} MB",
                            mb / rss[first], RSS_GOAL))  # fmt: skip
    return rows


class Row(NamedTuple):
    what: str
    scad: str
    floor: str
    ratio: float
    goal: float


def print_table(rows: list[Row], runs: int) -> None:
    """80 columns: each figure, its floor, the ratio and whether it meets its goal."""
    print(f"\n2. catching a finished run up from the engine (medians of {runs})")
    print("   floor: `docker logs | wc -l` in the same run; RSS: against the smallest log")
    print(f"{'':26} {'scad':>12} {'floor':>12} {'ratio':>7} {'goal':>7} {'met':>5}")
    for row in rows:
        met = "met" if row.ratio <= row.goal else "not"
        print(f"{row.what:26} {row.scad:>12} {row.floor:>12} {row.ratio:>7.2f} "
              f"{row.goal:>7.2f} {met:>5}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000, help="lines of the read path")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10k lines only, about 20 s")
    parser.add_argument("--no-engine", action="store_true", help="skip the catch-up benchmark")
    parser.add_argument("--rss-of", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_of:  # the child that measures a catch-up's peak RSS
        catch_up_once(Path(args.root), args.rss_of)
        # VmHWM, not ru_maxrss: that one keeps the parent's peak across the exec.
        status = Path("/proc/self/status").read_text()
        print(int(status.split("VmHWM:")[1].split()[0]) / 1024)
        return
    lines = 10_000 if args.quick else args.lines
    sizes = [10_000] if args.quick else [100_000, 1_000_000]
    rss_sizes = [1_000, 10_000] if args.quick else [10_000, 100_000, 1_000_000]
    with tempfile.TemporaryDirectory() as root:
        pipeline(Path(root), lines, args.runs)
        if not args.no_engine:
            print_table(catch_up_bench(Path(root), sizes, args.runs, rss_sizes), args.runs)


if __name__ == "__main__":
    main()
