"""The event log's read path, and catching a run up from the engine.

Run: .venv/bin/python benchmarks/log_pipeline.py [--lines N] [--runs N] [--no-engine]

1. Render N stream-json lines (default 100,000) of a run's log the way
   `session logs` does (chunked reads, typed decoding, one readable line each),
   and only decode them (what status and accounting need), against a plain
   `json.loads` loop over the same lines.
2. Catch up a finished run of N lines from the engine into a fresh event log,
   against `docker logs CONTAINER | wc -l` (needs the engine and the base image).

Medians of interleaved runs, and ratios to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio
from _bench import print_ratios

from scad.home import Home
from scad.runs.activity import activity_lines
from scad.runs.events import LogLine, ingest, read_events
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
        ingest, paths, "c" * 12, 0, [LogLine(ts, t) for ts, t in zip(stamps, raw, strict=True)]
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


def catch_up_bench(root: Path, n: int, runs: int) -> None:
    from scad.engine._client import open_engine
    from scad.runs.catchup import catch_up

    line = json.dumps(json.loads(stream_json(1)[0]))
    script = f"import sys\nline = {line!r} + '\\n'\nsys.stdout.write(line * {n})\n"
    container = subprocess.run(
        ["docker", "run", "-d", "--label", "scad.bench=1", BASE_IMAGE, "python3", "-c", script],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    try:
        subprocess.run(["docker", "wait", container], check=True, capture_output=True)
        home = Home(root / "catchup")

        def scad_catch_up() -> None:
            shutil.rmtree(home.root, ignore_errors=True)
            RunPaths(home, "bench").root.mkdir(parents=True)
            record = RunRecord(run_id="bench", config="b", tag="b", mode="headless", image="i",
                               branch="b", created="", repos={}, container_id=container)  # fmt: skip

            async def go() -> None:
                async with open_engine() as engine:
                    await catch_up(engine, home, record)

            anyio.run(go)
            lines = RunPaths(home, "bench").events.read_text().count("\n")
            assert lines == n + 1, lines  # every line, and the exit

        def docker_logs() -> None:
            subprocess.run(f"docker logs {container} | wc -l", shell=True, check=True,
                           capture_output=True)  # fmt: skip

        samples: dict[str, list[float]] = {
            "docker logs | wc -l (baseline)": [],
            "scad catch-up": [],
        }
        for _ in range(runs):
            samples["docker logs | wc -l (baseline)"].append(timed(docker_logs))
            samples["scad catch-up"].append(timed(scad_catch_up))
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    print(f"\n2. catching up a finished run of {n} lines from the engine")
    print_ratios(samples, "docker logs | wc -l (baseline)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-engine", action="store_true", help="skip the catch-up benchmark")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        pipeline(Path(root), args.lines, args.runs)
        if not args.no_engine:
            catch_up_bench(Path(root), args.lines, args.runs)


if __name__ == "__main__":
    main()
