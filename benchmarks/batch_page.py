"""A batch page's timeline for 200 runs: reading the logs, folding them and drawing
the SVG, against `cat` of the same logs.

Run: .venv/bin/python benchmarks/batch_page.py [--runs N] [--lines N] [--rounds N]
Needs no engine: it writes a batch's manifest and log and its runs' logs (Claude's
lines and scad's events, two attempts for a third of the runs) into a temporary
home, then times, in turns, `cat` of every log those files hold and the timeline
(read, fold, SVG at 1280 px) in a fresh process. Prints medians and the ratio to `cat`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from _bench import arguments, print_ratios, sample_interleaved

from scad.batch.events import AttemptEnded, AttemptStarted, BatchEvent, LimitMoved, SupervisorTook
from scad.batch.store import BatchItem, BatchManifest, BatchOptions, BatchPaths, save_manifest
from scad.home import Home
from scad.runs.envelopes import Created, Exited, Retried, ScadEvent, Started, encode_event

BATCH = "bench-page-Mar02-1400"
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
DRAW = (
    "import sys, anyio\n"
    "from pathlib import Path\n"
    "from scad.home import Home\n"
    "from scad.reports.timeline import read_timeline, timeline_svg\n"
    "async def main():\n"
    "    timeline = await read_timeline(Home(Path(sys.argv[1])), sys.argv[2])\n"
    "    assert len(timeline_svg(timeline, width=1280)) > 0\n"
    "anyio.run(main)\n"
)


def at(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")[:-6] + "Z"


def claude_line(seq: int, seconds: float, n: int) -> bytes:
    data = b'{"type":"assistant","message":{"content":[{"type":"text","text":"%s"}]}}' % (
        b"working on it " * 20
    )
    return b'{"seq":%d,"ts":"%s","src":"claude","cid":"abcdefabcdef","n":%d,"data":%s}' % (
        seq, at(seconds).encode(), n, data,
    )  # fmt: skip


def write_run(home: Home, run_id: str, begin: float, attempts: int, lines: int) -> None:
    folder = home.root / "runs" / run_id
    folder.mkdir(parents=True)
    out, seq, t = [], 0, begin

    def scad(event: ScadEvent) -> None:
        nonlocal seq
        seq += 1
        out.append(encode_event(event, seq, at(t)))

    for attempt in range(attempts):
        scad(Retried(detail="retry 1 of 1: crashed") if attempt else Created())
        t += 1
        scad(Started())
        for n in range(lines):
            seq += 1
            t += 0.1
            out.append(claude_line(seq, t, n))
        scad(Exited(exit_code=0 if attempt == attempts - 1 else 1))
        t += 5
    (folder / "events.jsonl").write_bytes(b"\n".join(out) + b"\n")


def make_batch(home: Home, runs: int, lines: int) -> list[str]:
    """The batch and its runs' logs; the paths of every log written."""
    items = [BatchItem(index=n, tag=f"page-{n:03d}", prompt="p") for n in range(1, runs + 1)]
    manifest = BatchManifest(
        batch_id=BATCH, config="bench", tag="page", created=at(0), image="i", source="-",
        options=BatchOptions(parallel=20, retries=1, budget_usd=50.0), items=items,
    )  # fmt: skip
    paths = BatchPaths(home, BATCH)
    paths.root.mkdir(parents=True)
    save_manifest(paths, manifest)
    events: list[BatchEvent] = [SupervisorTook(pid=1, ts=at(0)), LimitMoved(limit=20, ts=at(0))]
    for item in items:
        run_id = f"bench-page-{item.index:03d}-Mar02-1400"
        begin = (item.index // 20) * (lines * 0.1 + 10)
        attempts = 2 if item.index % 3 == 0 else 1
        write_run(home, run_id, begin, attempts, lines)
        t = begin + 1
        for attempt in range(1, attempts + 1):
            final = attempt == attempts
            events.append(AttemptStarted(item=item.index, run_id=run_id, attempt=attempt, ts=at(t)))
            t += lines * 0.1 + 0.1
            events.append(
                AttemptEnded(
                    item=item.index, run_id=run_id, attempt=attempt, ts=at(t),
                    status="succeeded" if final else "crashed", final=final, cost_usd=0.01,
                    backoff_s=None if final else 4.0,
                )
            )  # fmt: skip
            t += 6
    Path(paths.events).write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for e in events))
    return [paths.manifest, paths.events] + [
        str(home.root / "runs" / f"bench-page-{n:03d}-Mar02-1400" / "events.jsonl")
        for n in range(1, runs + 1)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--lines", type=int, default=200, help="Claude's lines per attempt")
    parser.add_argument("--rounds", type=int, default=7)
    args = arguments(parser, runs=20, lines=50, rounds=2)
    with tempfile.TemporaryDirectory() as root:
        home = Home(Path(root))
        logs = make_batch(home, args.runs, args.lines)
        size = sum(os.path.getsize(p) for p in logs)
        print(f"{args.runs} runs, {size / 1e6:.1f} MB of logs; timing", flush=True)
        commands = {
            "cat the logs (baseline)": ["cat", *logs],
            "timeline: read, fold, SVG": [sys.executable, "-c", DRAW, root, BATCH],
        }
        samples = sample_interleaved(commands, args.rounds, dict(os.environ))
    print_ratios(samples, "cat the logs (baseline)")
    seconds = statistics.median(samples["timeline: read, fold, SVG"])
    print(f"timeline for {args.runs} runs: {seconds:.3f} s (the page's bar: under 1 s)")


if __name__ == "__main__":
    main()
