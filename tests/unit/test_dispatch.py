"""The batch supervisor's scheduling against the engine fake: outcomes, retries,
concurrency, rate limits, budget, and picking up a batch a dead supervisor left."""

from __future__ import annotations

import errno
import json
import random
from collections import Counter
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from scad.batch import attempt as dispatch
from scad.batch.events import AttemptEnded, AttemptStarted, Fetched, LimitMoved
from scad.batch.process import requeue
from scad.batch.run import run_batch
from scad.batch.signals import RunSignals
from scad.batch.state import BatchState, batch_state
from scad.batch.store import (
    BatchItem,
    BatchManifest,
    BatchOptions,
    BatchPaths,
    append_batch_event,
    load_manifest,
    read_batch_events,
    save_manifest,
)
from scad.code.clones import create_clone
from scad.config.loading import parse_config
from scad.config.schema import Config, SwarmSettings
from scad.engine._types import ContainerSpec, ContainerState, ImageInfo, Output, OutputStream
from scad.errors import EngineError, EngineUnavailable, GitError, SessionError, UsageError
from scad.home import Home
from scad.runs.catchup import catch_up
from scad.runs.envelopes import Retried
from scad.runs.logread import read_all_events
from scad.runs.records import RunPaths, RunRecord, list_runs, load_run, save_run
from scad.runs.supervisor import launch, supervise
from scad.sessions.claude_state import write_claude_state
from scad.sessions.start import Prepared, prepare_session
from scad.sessions.start import _write_prompt as write_prompt
from tests.conftest import make_repo
from tests.fakes import FakeContainer, FakeEngine, Script, batch_event

# The batch's supervisor never blocks its event loop: no sync, lock, scan or sleep on it.
pytestmark = [pytest.mark.anyio, pytest.mark.loop_watch]

INIT = {"type": "system", "subtype": "init", "session_id": "s", "model": "claude-sonnet-4-5"}


def result(
    is_error: bool = False, status: int | None = None, cost: float = 0.01
) -> dict[str, object]:
    line: dict[str, object] = {"type": "result", "subtype": "success", "is_error": is_error,
                               "num_turns": 1, "total_cost_usd": cost, "result": "r",
                               "usage": {"input_tokens": 100, "output_tokens": 1000}}  # fmt: skip
    if status:
        line["api_error_status"] = status
    return line


def out(*objects: object) -> list[tuple[int, bytes]]:
    return [(1, b"".join(json.dumps(o).encode() + b"\n" for o in objects))]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Home, Config]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("HOME", str(tmp_path / "host-home"))
    repo = make_repo(tmp_path / "repo")
    config = parse_config(
        f"name: p\nrepos:\n  code: {{path: {repo}, workdir: true}}\n",
        label="p.yml",
        base_dir=tmp_path,
    )
    return Home(tmp_path / "home"), config


def make_batch(home: Home, prompts: list[str], **options: object) -> str:
    batch_id = "p-b-Nov27-1000"
    paths = BatchPaths(home, batch_id)
    paths.root.mkdir(parents=True)
    items = [BatchItem(index=n, tag=f"b-{n:02d}", prompt=p) for n, p in enumerate(prompts, 1)]
    manifest = BatchManifest(
        batch_id=batch_id, config="p", tag="b", created="2026-11-27T10:00:00.000Z",
        image="scad-p:x", source="test", items=items,
        options=BatchOptions(backoff=0.01, stagger=0.0, **options),  # type: ignore[arg-type]
    )  # fmt: skip
    save_manifest(paths, manifest)
    return batch_id


class Scripted(FakeEngine):
    """A fake engine whose containers act out their prompt, attempt by attempt,
    and that keeps count of how many run at once."""

    def __init__(self, plans: dict[str, list[Script]]) -> None:
        super().__init__(script=self._plan)
        self.plans = plans
        self.attempts: Counter[str] = Counter()
        self.running = 0
        self.most_running = 0

    def _plan(self, spec: ContainerSpec) -> Script:
        tag = spec.labels["scad.run"].split("-")[2]  # p-b-NN-...
        self.attempts[tag] += 1
        plan = self.plans[tag]
        return plan[min(self.attempts[tag], len(plan)) - 1]

    async def start(self, container_id: str) -> None:
        await super().start(container_id)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        container = self.made[container_id]

        async def count_end() -> None:
            await container.ended.wait()
            self.running -= 1

        self.tg.start_soon(count_end)


async def run(engine: Scripted, home: Home, config: Config, batch_id: str, **kw: object):  # type: ignore[no-untyped-def]
    async with anyio.create_task_group() as tg:
        engine.tg = tg  # type: ignore[attr-defined]
        with anyio.fail_after(30):
            state = await run_batch(engine, home, config, batch_id, stop_on_signals=False,
                                    rng=random.Random(1), **kw)  # type: ignore[arg-type]  # fmt: skip
    return state


OK = Script(out(INIT, result()), seconds=0.05)


async def prepare_item(
    engine: FakeEngine, home: Home, config: Config, batch_id: str, index: int
) -> Prepared:
    """Item ``index``'s run, made as the batch makes it (for a supervisor that died later)."""
    return await prepare_session(
        engine, home, config, tag=f"b-{index:02d}", prompt=f"prompt {index}", headless=True,
        image="scad-p:x", batch=(batch_id, index),
    )  # fmt: skip


async def test_outcomes_retries_and_the_concurrency_bound(project: tuple[Home, Config]) -> None:
    home, config = project
    plans = {
        "01": [OK],
        "02": [Script(out(INIT, result(is_error=True, status=429)), exit_code=1), OK],
        "03": [Script(out(INIT), hang=True)],
        "04": [Script(out(INIT), exit_code=137), Script(out(INIT), exit_code=137)],
        "05": [Script(out(INIT, result(is_error=True)), exit_code=1)],
        "06": [OK],
        "07": [Script(out(INIT, result()), oom=True, exit_code=137)],
    }
    batch_id = make_batch(
        home, [f"prompt {n}" for n in plans], parallel=3, retries=1, idle_timeout=0.3
    )
    engine = Scripted(plans)
    state = await run(engine, home, config, batch_id)
    statuses = {item.tag[-2:]: (item.status, item.attempts) for item in state.items}
    assert statuses == {
        "01": ("succeeded", 1),
        "02": ("succeeded", 2),  # rate-limited, then through
        "03": ("hung", 2),  # the watchdog stopped it each time
        "04": ("crashed", 2),
        "05": ("failed", 1),  # not worth another attempt
        "06": ("succeeded", 1),
        "07": ("oom", 1),
    }
    assert state.ended and not state.succeeded
    assert engine.most_running <= 3
    # Each prompt ran as one run; its attempts are in that run's log.
    runs = list_runs(home)
    assert sorted(r.item for r in runs) == list(range(1, 8))
    for record in runs:
        events = await read_all_events(RunPaths(home, record.run_id))
        starts = [e for e in events if e.kind == "started"]
        again = [e for e in events if e.kind == "resumed"]
        assert len(starts) == 1 and len(again) == engine.attempts[record.tag[-2:]] - 1
        # Each start again says why, just before it.
        why = [events[events.index(e) - 1] for e in again]
        assert all(isinstance(e, Retried) for e in why)
    second = next(r for r in runs if r.item == 2)
    retried = [
        e for e in await read_all_events(RunPaths(home, second.run_id)) if isinstance(e, Retried)
    ]
    assert [e.detail for e in retried] == ["retry 1 of 1: rate-limited"]
    # Every attempt of the rate-limited run left its own container's lines.
    second = next(r for r in runs if r.item == 2)
    cids = {
        e.cid for e in await read_all_events(RunPaths(home, second.run_id)) if e.src == "claude"
    }
    assert len(cids) == 2


async def test_a_run_that_cannot_start_fails_alone(project: tuple[Home, Config]) -> None:
    home, config = project
    batch_id = make_batch(home, ["a", "b"], parallel=2)
    engine = Scripted({"01": [OK], "02": [OK]})
    engine.fail["create_container"] = SessionError("no room")
    state = await run(engine, home, config, batch_id)
    assert {i.status for i in state.items} == {"failed"}
    assert all("could not start: no room" in (i.detail or "") for i in state.items)
    assert list_runs(home) == []  # nothing half-made is left


class Refusing(Scripted):
    """Refuses to make the container of one prompt."""

    async def create_container(self, spec: ContainerSpec) -> str:
        if "-b-02-" in spec.labels["scad.run"]:
            raise EngineError("create container: the engine refused: no space left on device")
        return await super().create_container(spec)


async def clone_fails(host_repo: Path, dest: Path, branch: str, **kw: Any) -> str:
    if "-b-02-" in str(dest):
        raise GitError("git clone failed: fatal: could not read from the host repository")
    return await create_clone(host_repo, dest, branch, **kw)


def state_fails(config: Config, paths: RunPaths, *args: Any) -> list[str]:
    if "-b-02-" in paths.root.name:
        raise OSError(errno.ENOSPC, "No space left on device")
    return write_claude_state(config, paths, *args)


def prompt_fails(paths: RunPaths, prompt: str | None) -> None:
    if "-b-02-" in paths.root.name:
        raise OSError(errno.ENOSPC, "No space left on device")
    return write_prompt(paths, prompt)


def record_fails(home: Home, record: RunRecord) -> None:
    if "-b-02-" in record.run_id:
        raise UnicodeEncodeError("utf-8", "x", 0, 1, "a name that is not text")
    save_run(home, record)


@pytest.mark.parametrize(
    ("engine_type", "patch", "reason"),
    [
        pytest.param(
            Scripted,
            ("_write_prompt", prompt_fails),
            "OSError: [Errno 28] No space left on device",
            id="prompt-file",
        ),
        pytest.param(
            Scripted,
            ("save_run", record_fails),
            "UnicodeEncodeError",
            id="run-record",
        ),
        pytest.param(
            Scripted,
            ("create_clone", clone_fails),
            "fatal: could not read from the host",
            id="clone",
        ),
        pytest.param(
            Scripted,
            ("write_claude_state", state_fails),
            "No space left on device",
            id="claude-state",
        ),
        pytest.param(
            Refusing, None, "could not start: create container: the engine refused", id="create"
        ),
    ],
)
async def test_one_item_that_cannot_start_fails_with_its_reason_and_the_others_go_on(
    project: tuple[Home, Config],
    monkeypatch: pytest.MonkeyPatch,
    engine_type: type[Scripted],
    patch: tuple[str, object] | None,
    reason: str,
) -> None:
    if patch is not None:
        monkeypatch.setattr(f"scad.sessions.start.{patch[0]}", patch[1])
    home, config = project
    batch_id = make_batch(home, ["a", "b", "c"], parallel=3, retries=1)
    engine = engine_type({"01": [OK], "02": [OK], "03": [OK]})
    state = await run(engine, home, config, batch_id)
    assert [i.status for i in state.items] == ["succeeded", "failed", "succeeded"]
    assert reason in (state.items[1].detail or "")
    assert "TaskGroup" not in (state.items[1].detail or "")
    assert [r.item for r in sorted(list_runs(home), key=lambda r: r.item or 0)] == [1, 3]


class Signals:
    """Signals a test hands the batch: rate limits, spend."""

    def __init__(self) -> None:
        self.rate_limits: dict[str, tuple[int, ...]] = {}
        self.spent: dict[str, float] = {}

    async def poll(self, run_ids: Collection[str]) -> list[RunSignals]:
        found = [RunSignals(run_id=r, spent_usd=self.spent.get(r, 0.0),
                            rate_limits=self.rate_limits.pop(r, ())) for r in run_ids]  # fmt: skip
        return found


async def test_rate_limits_lower_the_concurrency_and_successes_raise_it(
    project: tuple[Home, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, config = project
    slow = Script(out(INIT, result()), seconds=0.4)
    plans = {f"{n:02d}": [slow] for n in range(1, 9)}
    batch_id = make_batch(home, [f"p{n}" for n in plans], parallel=4)
    engine = Scripted(plans)
    signals = Signals()

    async def report_429() -> None:
        while not engine.made:
            await anyio.sleep(0.01)
        spec = next(iter(engine.made.values())).spec
        signals.rate_limits[spec.labels["scad.run"]] = (429, 429, 429)

    async with anyio.create_task_group() as tg:
        tg.start_soon(report_429)
        state = await run(engine, home, config, batch_id, signals=signals, monitor_period=0.02)
    limits = [
        e.limit for e in read_batch_events(BatchPaths(home, batch_id)) if isinstance(e, LimitMoved)
    ]
    # Halved once for the burst (one cut per cool-down), then raised as runs succeed.
    assert limits[:2] == [4, 2]
    assert limits[2:] == [3, 4]
    assert any("429" in note for note in state.notes)
    assert {i.status for i in state.items} == {"succeeded"}


async def test_a_spent_budget_stops_running_runs_and_starts_no_more(
    project: tuple[Home, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, config = project
    plans = {f"{n:02d}": [Script(out(INIT), hang=True)] for n in range(1, 6)}
    batch_id = make_batch(home, [f"p{n}" for n in plans], parallel=2, budget_usd=1.0)
    engine = Scripted(plans)
    signals = Signals()

    async def spend() -> None:
        # Once both have started: a run stopped before its start would leave no run.
        while len(running := [c for c in engine.made.values() if c.status == "running"]) < 2:
            await anyio.sleep(0.01)
        for container in running:
            signals.spent[container.spec.labels["scad.run"]] = 0.6

    async with anyio.create_task_group() as tg:
        tg.start_soon(spend)
        state = await run(engine, home, config, batch_id, signals=signals, monitor_period=0.02)
    assert [i.status for i in state.items] == ["cancelled"] * 5
    with_runs = [i.index for i in state.items if i.run_id is not None]
    assert with_runs == [1, 2]
    assert sorted(r.item for r in list_runs(home)) == with_runs
    assert state.budget_spent
    # Nothing was made after the budget was spent: two ran, and at most two more
    # were made ahead of a slot (the fifth waited for a place among them).
    assert engine.attempts["01"] == engine.attempts["02"] == 1
    assert sum(engine.attempts.values()) <= 4 and "05" not in engine.attempts
    assert engine.made == {}  # the stopped runs' containers are removed, their logs kept


async def test_a_batch_has_one_supervisor(project: tuple[Home, Config]) -> None:
    home, config = project
    batch_id = make_batch(home, ["a"])
    engine = Scripted({"01": [Script(out(INIT), hang=True)]})
    async with anyio.create_task_group() as tg:
        engine.tg = tg  # type: ignore[attr-defined]
        tg.start_soon(lambda: run_batch(engine, home, config, batch_id, stop_on_signals=False))
        while not engine.made:
            await anyio.sleep(0.01)
        with pytest.raises(SessionError, match="supervised already"):
            await run_batch(engine, home, config, batch_id, stop_on_signals=False)
        tg.cancel_scope.cancel()
    # Cancelled: the run was stopped and the batch says so.
    state = batch_state(
        load_manifest(home, batch_id), read_batch_events(BatchPaths(home, batch_id))
    )
    assert [i.status for i in state.items] == ["cancelled"] and state.ended


async def test_a_run_the_user_stops_under_its_batch_is_cancelled_not_retried(
    project: tuple[Home, Config],
) -> None:
    """`session stop` (or the web view's button) on a batch's run: its container's exit
    is the user's doing, not a crash to try again, and its attempt has one end."""
    from scad.runs.records import load_run
    from scad.sessions.control import stop_sessions

    home, config = project
    batch_id = make_batch(home, ["a"], retries=2)
    engine = Scripted({"01": [Script(out(INIT), hang=True), OK]})
    states = []
    async with anyio.create_task_group() as tg:
        engine.tg = tg  # type: ignore[attr-defined]

        async def batch() -> None:
            states.append(await run_batch(engine, home, config, batch_id, stop_on_signals=False))

        tg.start_soon(batch)
        with anyio.fail_after(30):
            while not any(c.status == "running" for c in engine.made.values()):
                await anyio.sleep(0.01)
            (run_id,) = [p.name for p in (home.root / "runs").iterdir()]
            [stopped] = await stop_sessions(engine, home, [load_run(home, run_id)])
            assert stopped.outcome == "stopped"
            while not states:
                await anyio.sleep(0.01)
    [state] = states
    assert [(i.status, i.attempts) for i in state.items] == [("cancelled", 1)]
    assert engine.attempts["01"] == 1  # not tried again
    events = read_batch_events(BatchPaths(home, batch_id))
    ends = [(e.status, e.final) for e in events if isinstance(e, AttemptEnded)]
    assert ends == [("cancelled", True)]


async def test_resume_adopts_what_is_running_and_runs_nothing_twice(
    project: tuple[Home, Config],
) -> None:
    """A supervisor died with item 1 running, item 2 done, item 3 prepared but not
    started and item 4 not begun: the next one follows item 1 to its end, leaves
    item 2, starts item 3 in the run it has, and starts item 4."""
    home, config = project
    plans = {"01": [Script(out(INIT, result()), seconds=0.3)], "02": [OK], "03": [OK], "04": [OK]}
    batch_id = make_batch(home, ["a", "b", "c", "d"])
    engine = Scripted(plans)
    paths = BatchPaths(home, batch_id)
    append_batch_event(paths, batch_event("supervisor", pid=1))
    prepared = {}
    for index in (1, 2, 3):
        prepared[index] = await prepare_item(engine, home, config, batch_id, index)
    async with anyio.create_task_group() as tg:
        engine.tg = tg  # type: ignore[attr-defined]
        for index in (1, 2):
            record = prepared[index].record
            container_id = await launch(engine, home, record, prepared[index].spec)
            tg.start_soon(drain, engine, container_id)  # the container runs by itself
            append_batch_event(
                paths, batch_event("started", item=index, run_id=record.run_id, attempt=1)
            )
        await catch_up_when_ended(engine, home, prepared[2].record)
        append_batch_event(paths, batch_event("attempt", item=2, run_id=prepared[2].record.run_id,
                           attempt=1, status="succeeded", final=True))  # fmt: skip
        state = await run(engine, home, config, batch_id)
    assert [(i.status, i.attempts) for i in state.items] == [("succeeded", 1)] * 4
    assert engine.attempts == {"01": 1, "02": 1, "03": 1, "04": 1}  # nothing ran twice
    assert sorted(r.item for r in list_runs(home)) == [1, 2, 3, 4]  # one run each
    adopted = await read_all_events(RunPaths(home, prepared[1].record.run_id))
    assert [e.kind or e.payload()["type"] for e in adopted] == [
        "created", "started", "system", "result", "exited",
    ]  # fmt: skip


async def test_a_run_its_supervisor_died_making_is_made_afresh(
    project: tuple[Home, Config],
) -> None:
    """A supervisor killed while it made item 1's run (its record claimed, its log not
    yet begun with ``created``) left a run that never held a container: the next one
    removes it and makes the item a run of its own, started once."""
    home, config = project
    batch_id = make_batch(home, ["a", "b"])
    engine = Scripted({"01": [OK], "02": [OK]})
    append_batch_event(BatchPaths(home, batch_id), batch_event("supervisor", pid=1))
    half_made = (await prepare_item(engine, home, config, batch_id, 1)).record
    RunPaths(home, half_made.run_id).events.write_bytes(b"")  # killed before `created`
    state = await run(engine, home, config, batch_id)
    assert [(i.status, i.attempts) for i in state.items] == [("succeeded", 1)] * 2
    assert engine.attempts == {"01": 1, "02": 1}
    [made] = [r for r in list_runs(home) if r.item == 1]
    events = await read_all_events(RunPaths(home, made.run_id))
    assert [e.kind for e in events if e.kind in ("created", "started", "resumed", "exited")] == [
        "created", "started", "exited",
    ]  # fmt: skip
    assert not RunPaths(home, half_made.run_id).root.exists() or made.run_id == half_made.run_id


async def drain(engine: FakeEngine, container_id: str) -> None:
    async with engine.attach(container_id) as output:
        while await output.read() is not None:
            pass


async def catch_up_when_ended(engine: FakeEngine, home: Home, record: RunRecord) -> None:
    assert record.container_id is not None
    await engine.made[record.container_id].ended.wait()
    await catch_up(engine, home, load_run(home, record.run_id))


async def test_a_run_still_preparing_when_the_budget_runs_out_never_starts(
    project: tuple[Home, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, config = project
    plans = {f"{n:02d}": [Script(out(INIT), hang=True)] for n in range(1, 4)}
    batch_id = make_batch(home, ["a", "b", "c"], parallel=3, budget_usd=1.0)
    engine = Scripted(plans)
    signals = Signals()
    real_prepare = dispatch.prepare_session

    async def slow_prepare(*args: object, **kwargs: object) -> object:
        if kwargs["tag"] != "b-01":
            await anyio.sleep_forever()  # still preparing when the money runs out
        return await real_prepare(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("scad.batch.attempt.prepare_session", slow_prepare)

    async def spend() -> None:
        while not engine.made:
            await anyio.sleep(0.01)
        signals.spent[next(iter(engine.made.values())).spec.labels["scad.run"]] = 2.0

    async with anyio.create_task_group() as tg:
        tg.start_soon(spend)
        state = await run(engine, home, config, batch_id, signals=signals, monitor_period=0.02)
    assert [i.status for i in state.items] == ["cancelled"] * 3
    assert engine.attempts == {"01": 1}  # the others never started
    # Nor left a half-made run (the first, stopped before it started, may have none).
    assert [r.item for r in list_runs(home)] in ([1], [])


async def test_a_resumed_batch_counts_what_earlier_runs_spent(project: tuple[Home, Config]) -> None:
    home, config = project
    batch_id = make_batch(home, ["a", "b"], budget_usd=1.0)
    paths = BatchPaths(home, batch_id)
    append_batch_event(paths, batch_event("supervisor", pid=1))
    append_batch_event(paths, batch_event("started", item=1, run_id="p-b-01-old", attempt=1))
    append_batch_event(paths, batch_event("attempt", item=1, run_id="p-b-01-old", attempt=1,
                       status="succeeded", final=True))  # fmt: skip
    signals = Signals()
    signals.spent["p-b-01-old"] = 1.5
    engine = Scripted({"02": [OK]})
    state = await run(engine, home, config, batch_id, signals=signals, monitor_period=0.02)
    assert [i.status for i in state.items] == ["succeeded", "cancelled"]
    assert engine.attempts == {}
    assert state.items[1].detail == "not started: the budget is spent"


class Flaky(Scripted):
    """An engine that is away for the first ``away`` creates."""

    def __init__(self, plans: dict[str, list[Script]], away: int) -> None:
        super().__init__(plans)
        self.away = away

    async def create_container(self, spec: ContainerSpec) -> str:
        if self.away:
            self.away -= 1
            raise EngineUnavailable("create container: the Docker engine did not answer")
        return await super().create_container(spec)


async def test_an_engine_away_at_start_is_a_crash_worth_a_retry(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    batch_id = make_batch(home, ["a"], retries=2)
    engine = Flaky({"01": [OK]}, away=2)
    state = await run(engine, home, config, batch_id)
    events = read_batch_events(BatchPaths(home, batch_id))
    ended = [e.status for e in events if isinstance(e, AttemptEnded)]
    assert ended == ["crashed", "crashed", "succeeded"]
    assert (state.items[0].status, state.items[0].attempts) == ("succeeded", 3)


async def test_a_retried_batch_gives_each_prompt_its_retries_again(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    batch_id = make_batch(home, ["a"], retries=1)
    paths = BatchPaths(home, batch_id)
    record = (await prepare_item(Scripted({}), home, config, batch_id, 1)).record
    append_batch_event(paths, batch_event("supervisor", pid=1))
    for attempt, final in ((1, False), (2, True)):
        append_batch_event(paths, batch_event("attempt", item=1, run_id=record.run_id, attempt=attempt,
                           status="crashed", final=final))  # fmt: skip
    append_batch_event(paths, batch_event("ended"))
    assert requeue(home, batch_id, failed_only=True) == [1]
    crash = Script(out(INIT), exit_code=137)
    engine = Scripted({"01": [crash, OK]})
    state = await run(engine, home, config, batch_id)
    assert (state.items[0].status, state.items[0].attempts) == ("succeeded", 4)
    assert engine.attempts == {"01": 2}  # one retry more, as --retries 1 allows


async def test_losing_the_engine_while_adopting_a_run_ends_that_run_not_the_batch(
    project: tuple[Home, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scad.runs._regain.REGAIN_SECONDS", 0.5)
    home, config = project
    batch_id = make_batch(home, ["a", "b"])
    engine = Scripted({"01": [Script(out(INIT), hang=True)], "02": [OK]})
    paths = BatchPaths(home, batch_id)
    append_batch_event(paths, batch_event("supervisor", pid=1))
    prepared = await prepare_item(engine, home, config, batch_id, 1)
    async with anyio.create_task_group() as tg:
        engine.tg = tg  # type: ignore[attr-defined]
        await launch(engine, home, prepared.record, prepared.spec)
        append_batch_event(
            paths, batch_event("started", item=1, run_id=prepared.record.run_id, attempt=1)
        )
        engine.fail["logs"] = EngineUnavailable("logs: the Docker engine did not answer")
        state = await run(engine, home, config, batch_id)
    # Its log could not be read, but the engine could stop it: gone, so worth a retry.
    assert [(i.status, i.attempts) for i in state.items] == [("crashed", 1), ("succeeded", 1)]
    assert "the Docker engine did not answer" in (state.items[0].detail or "")
    assert "its container was stopped" in (state.items[0].detail or "")


async def test_a_resumed_batch_whose_budget_is_spent_stops_what_it_adopts(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    batch_id = make_batch(home, ["a", "b"], budget_usd=1.0)
    engine = Scripted({"01": [Script(out(INIT), hang=True)], "02": [OK]})
    paths = BatchPaths(home, batch_id)
    append_batch_event(paths, batch_event("supervisor", pid=1))
    prepared = await prepare_item(engine, home, config, batch_id, 1)
    signals = Signals()
    signals.spent[prepared.record.run_id] = 2.0
    async with anyio.create_task_group() as tg:
        engine.tg = tg  # type: ignore[attr-defined]
        await launch(engine, home, prepared.record, prepared.spec)
        append_batch_event(
            paths, batch_event("started", item=1, run_id=prepared.record.run_id, attempt=1)
        )
        state = await run(engine, home, config, batch_id, signals=signals, monitor_period=0.02)
    assert [(i.status, i.detail) for i in state.items] == [
        ("cancelled", "stopped: the budget is spent"),
        ("cancelled", "not started: the budget is spent"),
    ]
    assert engine.made == {} and engine.attempts == {"01": 1}


async def test_a_run_stopped_by_the_budget_before_its_start_leaves_no_run(
    project: tuple[Home, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, config = project
    plans = {f"{n:02d}": [Script(out(INIT), hang=True)] for n in (1, 2)}
    batch_id = make_batch(home, ["a", "b"], parallel=2, budget_usd=1.0)
    manifest = load_manifest(home, batch_id)
    slow = msgspec.structs.replace(manifest.options, stagger=1.0, burst=1)  # item 2 waits its turn
    save_manifest(BatchPaths(home, batch_id), msgspec.structs.replace(manifest, options=slow))
    engine = Scripted(plans)
    signals = Signals()

    async def spend() -> None:
        # Once the first has started (the second waits a second for its turn).
        while not (running := [c for c in engine.made.values() if c.status == "running"]):
            await anyio.sleep(0.01)
        signals.spent[running[0].spec.labels["scad.run"]] = 2.0

    async with anyio.create_task_group() as tg:
        tg.start_soon(spend)
        await run(engine, home, config, batch_id, signals=signals, monitor_period=0.02)
    started = [
        e.item
        for e in read_batch_events(BatchPaths(home, batch_id))
        if isinstance(e, AttemptStarted)
    ]
    assert len(started) == 1  # the other's container was made, never started, and removed
    assert len(engine.made) == 0
    assert [r.item for r in list_runs(home)] == started  # the other was prepared, and is gone


async def test_a_start_that_failed_is_not_taken_for_a_running_container(
    project: tuple[Home, Config],
) -> None:
    """A start the engine did not answer may have happened: the engine is asked again,
    finds the container never started, and says so in the run's log; the resumed
    batch then tries again instead of following a container that never ran."""
    home, config = project
    batch_id = make_batch(home, ["a"], retries=1)
    paths = BatchPaths(home, batch_id)
    engine = Scripted({"01": [OK]})
    prepared = await prepare_item(engine, home, config, batch_id, 1)
    append_batch_event(paths, batch_event("supervisor", pid=1))
    engine.fail["start"] = EngineUnavailable("start: the Docker engine did not answer")
    outcome = await supervise(engine, home, prepared.record, prepared.spec)
    assert outcome.outcome == "crashed" and "its container never started" in (outcome.detail or "")
    assert engine.made == {}  # removed: nothing is left to run beside a retry
    del engine.fail["start"]
    append_batch_event(paths, batch_event("attempt", item=1, run_id=prepared.record.run_id, attempt=1,
                       status="crashed", final=False))  # fmt: skip
    state = await run(engine, home, config, batch_id)
    assert (state.items[0].status, state.items[0].attempts) == ("succeeded", 2)


async def test_with_fetch_each_run_that_succeeded_brings_its_branches_home(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    plans = {
        "01": [Script(out(INIT, result()))],
        "02": [Script(out(INIT, result(is_error=True)), exit_code=1)],
        "03": [Script(out(INIT, result()))],
    }
    batch_id = make_batch(home, ["p1", "p2", "p3"], fetch=True)
    state = await run(Scripted(plans), home, config, batch_id)
    repo = Path(config.repos["code"].path)
    listed = await anyio.run_process(["git", "-C", str(repo), "branch", "--format=%(refname)"])
    branches = listed.stdout.decode().replace("refs/heads/", "").split()
    succeeded = {i.run_id for i in state.items if i.status == "succeeded"}
    assert len(succeeded) == 2
    # These agents committed nothing: no branch comes home for them.
    assert branches == ["main"]
    fetched = [e for e in read_batch_events(BatchPaths(home, batch_id)) if isinstance(e, Fetched)]
    assert {(e.run_id, e.detail) for e in fetched} == {
        (r, f"{r}: no new commits") for r in succeeded
    }
    assert sorted(state.notes) == sorted(f"{r}: no new commits" for r in succeeded)


async def test_a_fetch_that_fails_is_noted_and_the_batch_goes_on(
    project: tuple[Home, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(home: Home, record: RunRecord, judged: object = None) -> None:
        raise SessionError(f"{record.run_id}: the host repo went away")

    monkeypatch.setattr(dispatch, "fetch_run", refuse)
    home, config = project
    plans = {f"{n:02d}": [Script(out(INIT, result()))] for n in (1, 2)}
    batch_id = make_batch(home, ["p1", "p2"], fetch=True)
    state = await run(Scripted(plans), home, config, batch_id)
    assert [i.status for i in state.items] == ["succeeded", "succeeded"]
    assert sorted(state.notes) == sorted(
        f"{i.run_id}: the host repo went away" for i in state.items
    )


class Vanishing(Scripted):
    """An engine that goes away while its containers run on (a dropped connection, a
    restart with live-restore): every request fails until it is back."""

    def __init__(self, plans: dict[str, list[Script]]) -> None:
        super().__init__(plans)
        self.away = False
        self.went_away = anyio.Event()
        self.refused = 0

    def leave(self) -> None:
        self.away = True
        self.went_away.set()

    def come_back(self) -> None:
        self.away = False
        self.went_away = anyio.Event()  # for the connections made from now on

    def _check(self, method: str) -> None:
        if self.away:
            self.refused += 1
            raise EngineUnavailable(f"{method}: the Docker engine did not answer")
        super()._check(method)

    async def inspect(self, container_id: str) -> ContainerState | None:
        self._check("inspect")
        return await super().inspect(container_id)

    async def containers(self, labels: Mapping[str, str | None]) -> list[ContainerState]:
        self._check("containers")
        return await super().containers(labels)

    async def remove(self, container_id: str, *, force: bool = False) -> None:
        self._check("remove")
        await super().remove(container_id, force=force)

    @asynccontextmanager
    async def attach(self, container_id: str) -> AsyncIterator[Dropping]:
        async with super().attach(container_id) as output:
            yield Dropping(self, output)


class Dropping:
    """An attached output that breaks when its engine goes away."""

    def __init__(self, engine: Vanishing, output: OutputStream) -> None:
        self.output = output
        self.dropped = engine.went_away

    async def read(self) -> Output | None:
        read: list[Output | None] = []
        async with anyio.create_task_group() as tg:

            async def inner() -> None:
                read.append(await self.output.read())
                tg.cancel_scope.cancel()

            async def dropped() -> None:
                await self.dropped.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(inner)
            tg.start_soon(dropped)
        if self.dropped.is_set():  # a dropped connection stays dropped
            raise EngineUnavailable("output: the Docker engine did not answer")
        return read[0]


async def lose_the_engine_midrun(engine: Vanishing, home: Home) -> FakeContainer:
    """Once item 1's container has said something, the engine goes away; returns
    the container, still running."""

    def first_item_talking() -> list[FakeContainer]:
        return [
            c
            for c in engine.made.values()
            if "-b-01-" in c.spec.labels["scad.run"] and c.status == "running" and c.printed
        ]

    while not (running := first_item_talking()):
        await anyio.sleep(0.01)
    engine.leave()
    while not engine.refused:  # the supervisor has noticed, and asks the engine again
        await anyio.sleep(0.01)
    return running[0]


async def test_a_run_whose_engine_went_away_is_followed_to_its_real_end_not_retried(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    batch_id = make_batch(home, ["a"], retries=2)
    engine = Vanishing({"01": [Script(out(INIT), hang=True), OK]})

    async def meanwhile() -> None:
        container = await lose_the_engine_midrun(engine, home)
        # The agent finishes while nobody can watch; then the engine answers again.
        container.printed += out(result(cost=0.5))
        container.status, container.exit_code = "exited", 0
        container.ended.set()
        engine.come_back()

    async with anyio.create_task_group() as tg:
        tg.start_soon(meanwhile)
        state = await run(engine, home, config, batch_id)
    assert (state.items[0].status, state.items[0].attempts) == ("succeeded", 1)
    assert engine.attempts == {"01": 1}  # no second container beside the first
    run_id = state.items[0].run_id
    assert run_id is not None
    envelopes = await read_all_events(RunPaths(home, run_id))
    kinds = [e.kind or e.payload()["type"] for e in envelopes]
    assert kinds == ["created", "started", "system", "result", "exited"]  # each once, its real exit


async def test_a_run_whose_engine_never_answers_again_is_unknown_and_not_retried(
    project: tuple[Home, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scad.runs._regain.REGAIN_SECONDS", 0.5)
    home, config = project
    batch_id = make_batch(home, ["a"], retries=2)
    engine = Vanishing({"01": [Script(out(INIT), hang=True), OK]})
    finished: list[BatchState] = []
    done = anyio.Event()

    async def batch() -> None:
        with anyio.fail_after(30):
            finished.append(await run_batch(engine, home, config, batch_id, stop_on_signals=False))
        done.set()

    async with anyio.create_task_group() as tg:
        engine.tg = tg  # type: ignore[attr-defined]
        tg.start_soon(batch)
        container = await lose_the_engine_midrun(engine, home)
        await done.wait()
        container.ended.set()  # the test's own clean-up: the container may end now
    item = finished[0].items[0]
    assert (item.status, item.attempts, item.final) == ("unknown", 1, True)
    assert "its container" in (item.detail or "") and "unknown" in (item.detail or "")
    assert engine.attempts["01"] == 1  # never a second attempt beside one that may run


class LostStartAnswer(Scripted):
    """Carries out the first start, and then does not answer it: the container runs
    to its end with nobody watching."""

    lost = True

    async def start(self, container_id: str) -> None:
        await super().start(container_id)
        if self.lost:
            self.lost = False
            container = self.made[container_id]
            container.printed += list(container.script.chunks)
            container.status, container.exit_code = "exited", 0
            container.ended.set()
            raise EngineUnavailable("start container: the Docker engine did not answer")


async def test_a_start_whose_answer_was_lost_is_followed_not_retried_beside_itself(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    batch_id = make_batch(home, ["a"], retries=2)
    engine = LostStartAnswer({"01": [OK]})
    state = await run(engine, home, config, batch_id)
    assert (state.items[0].status, state.items[0].attempts) == ("succeeded", 1)
    assert engine.attempts["01"] == 1  # one container, ever


async def test_a_bug_while_a_run_streams_ends_that_run_and_stops_its_container(
    project: tuple[Home, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host fails one run's log write (a full disk): that item ends failed, saying
    so, its container is stopped, and the others go on."""
    from scad.runs import supervisor

    real_ingest = supervisor.ingest

    async def ingest(paths: RunPaths, *args: Any, **kwargs: Any) -> int:
        if "-b-01-" in paths.root.name and args[2]:  # lines of the first run
            raise OSError(errno.ENOSPC, "No space left on device")
        return await real_ingest(paths, *args, **kwargs)

    monkeypatch.setattr(supervisor, "ingest", ingest)
    home, config = project
    batch_id = make_batch(home, ["a", "b", "c"], parallel=3, retries=1)
    engine = Scripted({"01": [OK], "02": [OK], "03": [OK]})
    state = await run(engine, home, config, batch_id)
    assert [i.status for i in state.items] == ["failed", "succeeded", "succeeded"]
    assert "OSError: [Errno 28] No space left on device" in (state.items[0].detail or "")
    assert not any(c.status == "running" for c in engine.made.values())


async def test_a_session_a_supervisor_watches_is_not_resumed_from_under_it(
    project: tuple[Home, Config],
) -> None:
    from scad.runs.events import supervising
    from scad.sessions.restart import resume_session

    home, config = project
    batch_id = make_batch(home, ["a"])
    engine = Scripted({"01": [OK]})
    prepared = await prepare_item(engine, home, config, batch_id, 1)
    async with supervising(RunPaths(home, prepared.record.run_id)):
        with pytest.raises(SessionError, match="is being watched by its supervisor"):
            await resume_session(engine, home, config, prepared.record, prompt="again")


async def test_a_run_on_a_swarm_is_not_resumed_here(project: tuple[Home, Config]) -> None:
    from scad.sessions.restart import resume_session

    home, config = project
    batch_id = make_batch(home, ["a"])
    engine = Scripted({"01": [OK]})
    prepared = await prepare_item(engine, home, config, batch_id, 1)
    record = msgspec.structs.replace(prepared.record, runs_on="swarm")
    with pytest.raises(UsageError, match="ran on a swarm, where a run starts again only as"):
        await resume_session(engine, home, config, record, prompt="again")
    assert engine.made == {}  # nothing was made


async def test_resume_makes_a_run_ready_as_a_batch_attempt_does(
    project: tuple[Home, Config],
) -> None:
    """One path starts a run again: a container of the run whose id never reached
    ``run.json`` goes before the new one is made, as for a batch's next attempt, and
    the new start is logged the same way."""
    from scad.sessions import resume_session

    home, config = project
    batch_id = make_batch(home, ["a"])
    engine = Scripted({"01": [OK, OK]})
    prepared = await prepare_item(engine, home, config, batch_id, 1)
    record = prepared.record
    engine.image_list.append(ImageInfo(id="sha256:x", tags=[record.image], labels={}, created=""))
    async with anyio.create_task_group() as tg:
        engine.tg = tg  # type: ignore[attr-defined]
        container_id = await launch(engine, home, record, prepared.spec)
        await drain(engine, container_id)
        await catch_up(engine, home, record)
        record.container_id = None  # scad was killed before the id reached run.json
        save_run(home, record)
        resumed = await resume_session(engine, home, config, record, prompt="again")
        assert resumed.record.container_id is not None
        await drain(engine, resumed.record.container_id)
    assert container_id in engine.removed
    scad = [e.kind for e in await read_all_events(RunPaths(home, record.run_id)) if e.src == "scad"]
    assert scad == ["created", "started", "exited", "resumed"]
    assert resumed.record.prompt == "again"


async def test_a_batch_runs_where_it_was_made_to_whatever_its_config_says_now(
    project: tuple[Home, Config],
) -> None:
    """The batch's own `--on` (kept in its manifest) decides, so a resume after the config
    was edited to `runs_on: swarm` runs where the batch began."""
    home, config = project
    config = msgspec.structs.replace(
        config, runs_on="swarm", swarm=SwarmSettings(registry="registry.lan:5000")
    )
    batch_id = make_batch(home, ["prompt 1"], runs_on="local")
    state = await run(Scripted({"01": [OK]}), home, config, batch_id)
    assert [item.status for item in state.items] == ["succeeded"]
    (record,) = list_runs(home)
    assert record.runs_on == "local"
