"""A batch of 100, 1,000 and 10,000 prompts by simulation, and a look at the largest.

Run: .venv/bin/python benchmarks/batch_scale.py [--sizes 100,1000,10000] [--parallel 50]
     [--looks 3] [--quick]

Each size runs in a fresh process through `run_batch`, the code `scad batch
--foreground` runs (the supervisor's lock, its batch log written and synced event
by event, its notices, the scheduler and its monitor reading the runs' signals),
on the fake engine, with attempts that are instant: each writes its run's log (a
start, Claude's init and result, the exit) and succeeds, under a budget it never
reaches (so each attempt's spend is read as it ends). No container, no clone:
what is measured is the supervisor around the runs. It prints, per prompt:

- CPU seconds of the batch (imports and set-up left out);
- memory: the peak of what Python allocated during the batch (tracemalloc, in a
  second process of its own, as tracing slows it down);

each as a ratio to the smallest size's. Goal: within 1.2x.

Then it looks at the largest batch as `batch status` and `batch watch` do
(`BatchWatcher.look()`): cold, in a fresh watcher, and again on the same watcher
after one more event in the batch's log (the live case), against `cat` of every
log the look reads. Goal: a cold look under 1 s, a repeated one well under that.
`--quick` (what CI runs): sizes 100 and 1,000, one look each; it fails only when
it cannot run, never on a goal.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake engine lives with the tests

from _bench import arguments, print_goals  # noqa: E402

from scad.batch.attempt import ItemRun  # noqa: E402
from scad.batch.events import Fetched  # noqa: E402
from scad.batch.run import run_batch  # noqa: E402
from scad.batch.store import (  # noqa: E402
    BatchItem,
    BatchManifest,
    BatchOptions,
    BatchPaths,
    append_batch_event,
    save_manifest,
)
from scad.batch.view import BatchWatcher  # noqa: E402
from scad.config.loading import parse_config  # noqa: E402
from scad.home import Home  # noqa: E402
from scad.runs.envelopes import ClaudeLine, Exited, Started, encode_envelope  # noqa: E402
from scad.runs.gate import StartGate  # noqa: E402
from scad.runs.outcomes import Outcome  # noqa: E402
from scad.runs.records import RunPaths, RunRecord  # noqa: E402
from tests.fakes import FakeEngine  # noqa: E402

BATCH_ID = "sim-b-Jan01-0000"
GOAL_PER_PROMPT_X = 1.2
GOAL_LOOK_S = 1.0
TS = "2026-01-01T00:00:00.000Z"
#: A budget the batch never reaches: each attempt's spend is read as it ends, as a
#: batch run with `--budget-usd` does.
BUDGET = 1e6


class InstantAttempts:
    """Attempts that end at once, succeeded, each leaving its run's log behind."""

    checking = False

    def __init__(self, home: Home) -> None:
        self.home = home

    async def left_running(self, record: RunRecord) -> bool:
        return False

    async def adopt(self, run: ItemRun) -> Outcome:
        raise AssertionError("a fresh batch adopts nothing")

    async def stop(self, run: ItemRun) -> Outcome:
        raise AssertionError("a fresh batch stops nothing")

    async def start(self, run: ItemRun, attempt: int, gate: StartGate) -> Outcome:
        run_id = f"sim-{run.item.tag}-Jan01-0000"
        if run.record is None:
            run.record = RunRecord(run_id=run_id, config="sim", tag=run.item.tag,
                                   mode="headless", image="scad-sim:x", branch=run_id,
                                   created=TS, repos={})  # fmt: skip
            write_run_log(RunPaths(self.home, run_id))
        await gate.passed()
        gate.started.set()
        return Outcome(run_id=run_id, outcome="succeeded", turns=1, cost_usd=0.01)

    async def check(self, record: RunRecord, *, time_limit: float | None) -> None:
        raise AssertionError("no checks")

    async def fetch(self, record: RunRecord, judged: dict[str, str] | None = None) -> str:
        return "fetched"


def write_run_log(paths: RunPaths) -> None:
    """What a headless run's log holds once it ran an instant prompt."""
    paths.root.mkdir(parents=True)
    init = b'{"type":"system","subtype":"init","session_id":"s","model":"claude-sonnet-4-5"}'
    result = (b'{"type":"result","subtype":"success","is_error":false,"num_turns":1,'
              b'"total_cost_usd":0.01,"result":"hi","session_id":"s",'
              b'"usage":{"input_tokens":100,"output_tokens":20}}')  # fmt: skip
    cid = "c" * 12
    lines = [
        Started(seq=1, ts=TS, cid=cid),
        ClaudeLine(seq=2, ts=TS, src="claude", cid=cid, n=0, data=msgspec_raw(init)),
        ClaudeLine(seq=3, ts=TS, src="claude", cid=cid, n=1, data=msgspec_raw(result)),
        Exited(seq=4, ts=TS, cid=cid, exit_code=0),
    ]
    paths.events.write_bytes(b"".join(encode_envelope(line) + b"\n" for line in lines))


def msgspec_raw(data: bytes):  # type: ignore[no-untyped-def]
    import msgspec

    return msgspec.Raw(data)


def make_batch(home: Home, prompts: int, parallel: int) -> None:
    paths = BatchPaths(home, BATCH_ID)
    paths.root.mkdir(parents=True)
    items = [BatchItem(index=n, tag=f"p{n:05d}", prompt="SAY: hi") for n in range(1, prompts + 1)]
    save_manifest(paths, BatchManifest(
        batch_id=BATCH_ID, config="sim", tag="b", created=TS, image="scad-sim:x",
        source="simulation", items=items,
        options=BatchOptions(parallel=parallel, stagger=0.0, backoff=0.01, budget_usd=BUDGET),
    ))  # fmt: skip


async def supervise(home: Home) -> None:
    # Its repo is never cloned: the attempts are instant.
    text = f"name: sim\nrepos:\n  code: {{path: {ROOT}, workdir: true}}\n"
    config = parse_config(text, label="sim.yml", base_dir=home.root)
    state = await run_batch(FakeEngine(), home, config, BATCH_ID, stop_on_signals=False,
                            attempts=InstantAttempts(home))  # fmt: skip
    if not state.succeeded:
        raise SystemExit(f"the simulated batch did not succeed: {state.items[:3]}")


def child(root: Path, prompts: int, parallel: int, memory: bool) -> None:
    """One batch, in this process: prints its cost as JSON."""
    home = Home(root)
    make_batch(home, prompts, parallel)
    if memory:
        tracemalloc.start()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    anyio.run(supervise, home)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    peak = tracemalloc.get_traced_memory()[1] if memory else 0
    print(json.dumps({"cpu_s": cpu, "wall_s": wall, "peak_bytes": peak}))


def in_child(root: Path, prompts: int, parallel: int, *, memory: bool) -> dict[str, float]:
    shutil.rmtree(root, ignore_errors=True)
    command = [sys.executable, __file__, "--child", str(prompts), "--root", str(root),
               "--parallel", str(parallel)] + (["--memory"] if memory else [])  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


async def looks(home: Home) -> tuple[float, float]:
    """Seconds of a cold look, and of a look again after one more event."""
    watcher = BatchWatcher(home, BATCH_ID)
    started = time.perf_counter()
    view = await watcher.look()
    cold = time.perf_counter() - started
    assert view.totals.outcomes == {"succeeded": len(view.rows)}, view.totals
    append_batch_event(BatchPaths(home, BATCH_ID), Fetched(item=1, run_id="r", detail="again"))
    started = time.perf_counter()
    view = await watcher.look()
    again = time.perf_counter() - started
    assert view.notes[-1] == "again", view.notes[-3:]
    return cold, again


def cat_logs(home: Home) -> float:
    """Seconds `cat` takes over the batch's log and every run's."""
    logs = [str(BatchPaths(home, BATCH_ID).events)]
    logs += [str(p / "events.jsonl") for p in (home.root / "runs").iterdir()]
    started = time.perf_counter()
    for at in range(0, len(logs), 2000):  # within the command line's limit
        subprocess.run(["cat", *logs[at : at + 2000]], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="prompts per batch")
    parser.add_argument("--parallel", type=int, default=50, help="runs at once")
    parser.add_argument("--looks", type=int, default=3, help="timed looks (the median)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = arguments(parser, sizes="100,1000", looks=1)
    if args.child is not None:
        child(args.root, args.child, args.parallel, args.memory)
        return
    sizes, rounds = [int(s) for s in args.sizes.split(",")], args.looks
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="scad-bench-scale-") as folder:
        root = Path(folder) / "home"
        for prompts in sizes:
            print(f"{prompts} prompts", file=sys.stderr, flush=True)
            memory = in_child(root, prompts, args.parallel, memory=True)
            results[prompts] = in_child(root, prompts, args.parallel, memory=False)
            results[prompts]["peak_bytes"] = memory["peak_bytes"]
        # The largest batch is what is left in the home.
        home = Home(root)
        timed = [anyio.run(looks, home) for _ in range(rounds)]
        cat = statistics.median(cat_logs(home) for _ in range(rounds))
    base = results[sizes[0]]
    base_cpu, base_mem = base["cpu_s"] / sizes[0], base["peak_bytes"] / sizes[0]
    print(f"a batch of instant prompts on the fake engine, --parallel {args.parallel}")
    print(f"{'prompts':>8} {'wall s':>8} {'CPU ms/prompt':>14} {'x':>6} "
          f"{'peak KB/prompt':>15} {'x':>6}")  # fmt: skip
    for prompts, cost in results.items():
        cpu, mem = cost["cpu_s"] / prompts, cost["peak_bytes"] / prompts
        print(f"{prompts:>8} {cost['wall_s']:>8.2f} {cpu * 1000:>14.3f} {cpu / base_cpu:>6.2f} "
              f"{mem / 1024:>15.2f} {mem / base_mem:>6.2f}")  # fmt: skip
    cold = statistics.median(t[0] for t in timed)
    again = statistics.median(t[1] for t in timed)
    print(f"\nlooking at the {sizes[-1]}-prompt batch (median of {rounds})")
    print(f"{'':34} {'s':>8} {'x cat':>8}")
    for name, seconds in (("cat of every log it reads", cat), ("look, cold", cold),
                          ("look again, one event later", again)):  # fmt: skip
        print(f"{name:34} {seconds:>8.3f} {seconds / cat:>8.2f}")
    worst = max(c["cpu_s"] / p / base_cpu for p, c in results.items())
    worst_mem = max(c["peak_bytes"] / p / base_mem for p, c in results.items())
    print()
    print_goals([
        (f"CPU per prompt, x {sizes[0]}", f"<= {GOAL_PER_PROMPT_X}x", f"{worst:.2f}x",
         worst <= GOAL_PER_PROMPT_X),
        (f"memory per prompt, x {sizes[0]}", f"<= {GOAL_PER_PROMPT_X}x", f"{worst_mem:.2f}x",
         worst_mem <= GOAL_PER_PROMPT_X),
        (f"look at {sizes[-1]} prompts, cold", f"< {GOAL_LOOK_S:.0f} s", f"{cold:.3f} s",
         cold < GOAL_LOOK_S),
        ("look again, one event later", f"< {GOAL_LOOK_S:.0f} s", f"{again:.3f} s",
         again < GOAL_LOOK_S),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
