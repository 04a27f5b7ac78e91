"""The supervisor's paths, against the engine fake: outcomes, errors, hangs, cancellation."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import msgspec
import pytest

from scad.engine import labels
from scad.engine._types import ContainerSpec
from scad.engine.labels import home_label
from scad.errors import EngineError, SessionError
from scad.home import Home
from scad.names import home_key
from scad.runs.logread import read_all_events
from scad.runs.records import RunPaths, RunRecord, load_run, save_run
from scad.runs.supervisor import Outcome, supervise
from tests.fakes import FakeEngine, Script

pytestmark = pytest.mark.anyio

INIT = {"type": "system", "subtype": "init", "session_id": "s", "model": "m"}


def result(is_error: bool = False, text: str = "done") -> dict[str, object]:
    return {"type": "result", "subtype": "success", "is_error": is_error, "num_turns": 2,
            "total_cost_usd": 0.25, "duration_ms": 1200, "result": text,
            "usage": {"input_tokens": 10, "output_tokens": 10_000}}  # fmt: skip


def out(*objects: object) -> list[tuple[int, bytes]]:
    """stdout chunks that cut lines at odd places, as the engine does."""
    data = b"".join(json.dumps(o).encode() + b"\n" for o in objects)
    return [(1, data[i : i + 7]) for i in range(0, len(data), 7)]


def make_run(home: Home, run_id: str = "p-t-Nov27-1000") -> tuple[RunRecord, ContainerSpec]:
    record = RunRecord(run_id=run_id, config="p", tag="t", mode="headless", image="scad-p:x",
                       branch=f"scad-{run_id}", created="2026-11-27T10:00:00.000Z", repos={})  # fmt: skip
    RunPaths(home, run_id).root.mkdir(parents=True)
    save_run(home, record)
    spec = ContainerSpec(image="scad-p:x", name=f"scad-{run_id}", labels={"scad.run": run_id})
    return record, spec


async def run_one(tmp_path: Path, script: Script, **options: object) -> tuple[Outcome, Home]:
    home = Home(tmp_path)
    engine = FakeEngine(script=lambda spec: script)
    record, spec = make_run(home)
    outcome = await supervise(engine, home, record, spec, **options)  # type: ignore[arg-type]
    return outcome, home


@pytest.mark.parametrize(
    ("printed", "exit_code", "oom", "status"),
    [
        pytest.param([INIT, result()], 0, False, "succeeded", id="succeeded"),
        pytest.param([INIT, result(is_error=True)], 1, False, "failed", id="is-error"),
        pytest.param([INIT, result()], 1, False, "failed", id="exit-code"),
        pytest.param([INIT], 137, False, "crashed", id="no-result"),
        pytest.param([INIT], 137, True, "oom", id="oom"),
        # A tool killed for memory while Claude went on: the run still ran short of memory.
        pytest.param([INIT, result()], 0, True, "oom", id="oom-child"),
    ],
)
async def test_outcomes(
    tmp_path: Path, printed: list[dict[str, object]], exit_code: int, oom: bool, status: str
) -> None:
    outcome, home = await run_one(tmp_path, Script(out(*printed), exit_code=exit_code, oom=oom))
    assert (outcome.outcome, outcome.exit_code) == (status, exit_code)
    envelopes = await read_all_events(RunPaths(home, outcome.run_id))
    kinds = [e.kind or e.payload()["type"] for e in envelopes]
    assert kinds == ["started", *[p["type"] for p in printed], "exited"]
    assert [e.n for e in envelopes if e.src == "claude"] == list(range(len(printed)))
    assert (envelopes[-1].exit_code, envelopes[-1].oom) == (exit_code, oom)
    assert load_run(home, outcome.run_id).container_id == outcome.container_id


async def test_a_success_carries_what_the_result_said(tmp_path: Path) -> None:
    outcome, _ = await run_one(tmp_path, Script(out(INIT, result(text="all done"))))
    assert (outcome.result, outcome.turns, outcome.cost_usd, outcome.duration_ms) == (
        "all done", 2, 0.25, 1200,
    )  # fmt: skip
    assert (outcome.input_tokens, outcome.output_tokens) == (10, 10_000)


async def test_a_crash_keeps_the_end_of_stderr(tmp_path: Path) -> None:
    chunks = [(2, f"line {n}\n".encode()) for n in range(8)]
    outcome, home = await run_one(tmp_path, Script(chunks, exit_code=2))
    assert outcome.detail == "line 3\nline 4\nline 5\nline 6\nline 7"
    events = await read_all_events(RunPaths(home, outcome.run_id))
    assert [(e.kind, getattr(e, "stderr", None)) for e in events] == [
        ("started", None),
        ("exited", "line 3\nline 4\nline 5\nline 6\nline 7"),
    ]


async def test_a_silent_run_is_stopped_as_hung(tmp_path: Path) -> None:
    outcome, home = await run_one(tmp_path, Script(out(INIT), hang=True), idle_timeout=0.2)
    assert outcome.outcome == "hung"
    envelopes = await read_all_events(RunPaths(home, outcome.run_id))
    assert (envelopes[-1].stop, envelopes[-1].stderr) == ("hung", None)


async def test_a_run_that_talks_on_but_takes_too_long_is_timed_out(tmp_path: Path) -> None:
    chatter = Script(out(*[INIT] * 3), seconds=5)  # prints, then keeps going: not idle
    outcome, home = await run_one(tmp_path, chatter, idle_timeout=1, time_limit=0.2)
    assert (outcome.outcome, outcome.exit_code) == ("timed-out", 143)
    envelopes = await read_all_events(RunPaths(home, outcome.run_id))
    assert (envelopes[-1].stop, envelopes[-1].stderr) == ("timed-out", None)


async def test_a_run_that_gave_up_on_rate_limits(tmp_path: Path) -> None:
    gave_up = {**result(is_error=True), "api_error_status": 529}
    outcome, _ = await run_one(tmp_path, Script(out(INIT, gave_up), exit_code=1))
    assert outcome.outcome == "rate-limited"


@pytest.mark.parametrize("method", ["create_container", "attach", "start"])
async def test_a_run_that_cannot_start_raises_its_error_as_it_came_and_leaves_no_container(
    tmp_path: Path, method: str
) -> None:
    home = Home(tmp_path)
    refusal = EngineError("the engine said no", status=507)
    engine = FakeEngine(fail={method: refusal})
    record, spec = make_run(home)
    with pytest.raises(EngineError) as raised:
        await supervise(engine, home, record, spec)
    assert raised.value is refusal  # not wrapped: its type and status reach the caller
    assert engine.made == {}


async def test_an_engine_error_once_started_is_followed_to_the_runs_real_end(
    tmp_path: Path,
) -> None:
    home = Home(tmp_path)
    engine = FakeEngine(
        script=lambda spec: Script(out(INIT, result())),
        fail={"wait": EngineError("the engine went away")},
    )
    record, spec = make_run(home)
    outcome = await supervise(engine, home, record, spec)
    assert (outcome.outcome, outcome.result) == ("succeeded", "done")
    envelopes = await read_all_events(RunPaths(home, record.run_id))
    assert [e.kind or e.payload()["type"] for e in envelopes] == [
        "started", "system", "result", "exited",
    ]  # fmt: skip


async def test_one_run_failing_leaves_its_siblings_running(tmp_path: Path) -> None:
    home = Home(tmp_path)

    def script(spec: ContainerSpec) -> Script:
        if spec.name.endswith("-2"):
            return Script([(2, b"boom\n")], exit_code=1)
        return Script(out(INIT, result()))

    engine = FakeEngine(script=script)
    outcomes: dict[str, Outcome] = {}

    async def one(n: int) -> None:
        record, spec = make_run(home, f"p-t{n}-Nov27-1000-{n}")
        outcomes[record.run_id] = await supervise(engine, home, record, spec)

    async with anyio.create_task_group() as tg:
        for n in range(1, 6):
            tg.start_soon(one, n)
    assert sorted(o.outcome for o in outcomes.values()) == ["crashed", *["succeeded"] * 4]


async def test_a_cancelled_run_is_stopped_kept_and_removed(tmp_path: Path) -> None:
    home = Home(tmp_path)
    engine = FakeEngine(script=lambda spec: Script(out(INIT), hang=True))
    record, spec = make_run(home)
    async with anyio.create_task_group() as tg:
        started = await tg.start(
            lambda task_status: supervise(engine, home, record, spec, task_status=task_status)
        )
        assert started.container_id in engine.made
        await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    assert engine.made == {} and started.container_id in engine.removed
    events = [e.kind for e in await read_all_events(RunPaths(home, record.run_id))]
    assert events == ["started", None, "exited", "cancelled"]


async def test_two_homes_run_the_same_run_id_side_by_side(tmp_path: Path) -> None:
    """Run ids are unique within a home; another home's run of the same id already
    holds the container name, so this one's name also carries its home's key."""
    engine = FakeEngine(script=lambda spec: Script(out(INIT, result())))
    first, second = Home(tmp_path / "a"), Home(tmp_path / "b")
    outcomes = []
    for home in (first, second):
        record, spec = make_run(home)
        spec = msgspec.structs.replace(spec, labels={**spec.labels, labels.HOME: home_label(home)})
        outcomes.append(await supervise(engine, home, record, spec))
    assert [o.outcome for o in outcomes] == ["succeeded", "succeeded"]
    names = [engine.made[o.container_id].spec.name for o in outcomes if o.container_id]
    assert names == ["scad-p-t-Nov27-1000", f"scad-p-t-Nov27-1000-{home_key(str(second.root))}"]


async def test_an_outcome_counts_a_claimed_cost_only_as_far_as_its_tokens_go(
    tmp_path: Path,
) -> None:
    """The batch's log and `start --wait` show the outcome's cost: a forged result's
    claim counts no more there than in the run's totals."""
    forged = result() | {"total_cost_usd": 999999.0, "usage": {"output_tokens": 1000}}
    outcome, _ = await run_one(tmp_path, Script(out(INIT, forged)))
    assert outcome.cost_usd == pytest.approx(0.075)


async def test_a_container_of_this_run_that_never_started_gives_up_its_name(
    tmp_path: Path,
) -> None:
    """scad was stopped between making a run's container and starting it: the next
    start takes the name back, and nothing that ran is removed."""
    engine = FakeEngine(script=lambda spec: Script(out(INIT, result())))
    home = Home(tmp_path)
    record, spec = make_run(home)
    left = await engine.create_container(spec)
    outcome = await supervise(engine, home, record, spec)
    assert outcome.outcome == "succeeded" and left not in engine.made
    assert outcome.container_id is not None
    assert engine.made[outcome.container_id].spec.name == spec.name


async def test_a_container_of_this_run_that_ran_is_never_joined_by_a_second(
    tmp_path: Path,
) -> None:
    engine = FakeEngine(script=lambda spec: Script(out(INIT, result())))
    home = Home(tmp_path)
    record, spec = make_run(home)
    earlier = await engine.create_container(spec)
    await engine.start(earlier)
    with pytest.raises(SessionError, match=r"earlier container .* is still there \(running\)"):
        await supervise(engine, home, record, spec)
    assert list(engine.made) == [earlier]


async def test_a_watched_run_s_stderr_is_kept_as_a_caught_up_one_s_is(tmp_path: Path) -> None:
    """The lines of a failure's stderr kept live follow the catch-up's rule: the last
    ones not blank, each cut to STDERR_LINE_CHARS (an agent prints any length)."""
    from scad.runs.catchup import STDERR_LINE_CHARS

    home = Home(tmp_path)
    said = b"first\n\n" + b"x" * 100_000 + b"\n  \n"
    engine = FakeEngine(script=lambda spec: Script([(2, said)], exit_code=1))
    record, spec = make_run(home)
    outcome = await supervise(engine, home, record, spec)
    assert outcome.detail == "first\n" + "x" * STDERR_LINE_CHARS
    events = await read_all_events(RunPaths(home, record.run_id))
    (exited,) = [e for e in events if e.kind == "exited"]
    assert exited.stderr == outcome.detail
