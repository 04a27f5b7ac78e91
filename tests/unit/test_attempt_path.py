"""How far one attempt's run record travels: from the batch's scheduler to the
attempt's outcome, through few modules, coming back to few it had left, and never
calling up a layer.

A real one-item batch runs on the engine fake (its first attempt crashes, the
retry succeeds) under a profiler. Of the frames of the attempt's own task, those
of a layer's module that take the run record (or an object holding it) make the
path: the module of the innermost such frame, as calls and returns move it. The
layers are the contract's, in pyproject; the ground modules (errors, threads...)
are no layer and pass unseen; work handed to a worker thread is not the task's.
"""

from __future__ import annotations

import asyncio
import dis
import itertools
import random
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import anyio
import msgspec
import pytest

from scad.batch.run import run_batch
from scad.batch.scheduler import Scheduler
from scad.batch.store import BatchItem, BatchManifest, BatchOptions, BatchPaths, save_manifest
from scad.config.loading import parse_config
from scad.config.schema import Config
from scad.engine._types import ContainerSpec
from scad.home import Home
from scad.runs.records import RunRecord
from tests.conftest import make_repo
from tests.fakes import FakeEngine, Script

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
SCAD = str(ROOT / "scad")
#: The bar: modules on the path, returns to a module left before, calls up a layer.
MOST_MODULES, MOST_RETURNS = 6, 5

YIELD_VALUE = dis.opmap["YIELD_VALUE"]
RESUME = dis.opmap["RESUME"]
ATTEMPT_CODE = Scheduler._attempt.__code__


def layer_order() -> dict[str, int]:
    """Each layer's package and its height (0 is the top), from the contract."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = project["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    return {
        package.strip(): height
        for height, entry in enumerate(layers)
        for package in entry.split("|")
    }


LAYERS = layer_order()


def layer_of(module: str) -> int | None:
    for package, height in LAYERS.items():
        if module == package or module.startswith(package + "."):
            return height
    return None


def holds_record(value: object) -> bool:
    if isinstance(value, RunRecord):
        return True
    if isinstance(value, msgspec.Struct):
        fields = (getattr(value, name, None) for name in value.__struct_fields__)
    else:
        fields = iter(getattr(value, "__dict__", {}).values())
    return any(isinstance(field, RunRecord) for field in fields)


def takes_record(frame: FrameType) -> bool:
    code = frame.f_code
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)  # *args, **kwargs
    local = frame.f_locals
    for name in code.co_varnames[:count]:
        value = local.get(name)
        values = value.values() if isinstance(value, dict) else value
        if isinstance(values, tuple | list | type({}.values())):
            if any(holds_record(each) for each in values):
                return True
        elif holds_record(value):
            return True
    return False


class Step(msgspec.Struct, frozen=True):
    module: str
    #: Reached by a call (else by a return).
    called: bool


def started(frame: FrameType) -> bool:
    """Whether a frame's call event is its start (a coroutine's resumption is one too)."""
    code = frame.f_code.co_code
    at = frame.f_lasti
    return at < 0 or code[at] != RESUME or code[at + 1] == 0


class PathTrace:
    """The path of each attempt the scheduler makes, as :class:`Step` lists."""

    def __init__(self) -> None:
        self.attempts: list[list[Step]] = []
        self._task: asyncio.Task[Any] | None = None
        self._base: FrameType | None = None

    def __call__(self, frame: FrameType, event: str, arg: object) -> None:
        if event not in ("call", "return") or not frame.f_code.co_filename.startswith(SCAD):
            return
        task = asyncio.current_task()
        if event == "call" and not started(frame):
            return  # resumed, not called: the task goes on where it was
        if self._base is None:
            if event == "call" and frame.f_code is ATTEMPT_CODE:
                self._task, self._base = task, frame
                self.attempts.append([Step("scad.batch.scheduler", called=True)])
            return
        if task is not self._task:
            return
        if event == "return":
            if frame.f_code.co_code[frame.f_lasti] == YIELD_VALUE:
                return  # suspended, not returned: the task resumes it where it was
            if frame is self._base:
                self._base = None
                self._step(Step("scad.batch.scheduler", called=False))
                return
            frame = frame.f_back  # type: ignore[assignment]
        self._step(Step(self._innermost(frame), called=event == "call"))

    def _innermost(self, frame: FrameType | None) -> str:
        while frame is not None and frame is not self._base:
            module = frame.f_globals.get("__name__", "")
            if layer_of(module) is not None and takes_record(frame):
                return module
            frame = frame.f_back
        return "scad.batch.scheduler"

    def _step(self, step: Step) -> None:
        route = self.attempts[-1]
        if step.module != route[-1].module:
            route.append(step)


class Counts(msgspec.Struct, frozen=True):
    modules: int
    returns: int
    climbs: int
    route: str


def counted(route: list[Step]) -> Counts:
    returns = sum(step.module in {s.module for s in route[:n]} for n, step in enumerate(route))
    climbs = sum(
        step.called and layer_of(step.module) < layer_of(before.module)  # type: ignore[operator]
        for before, step in itertools.pairwise(route)
    )
    names = " > ".join(step.module.rsplit(".", 1)[-1] for step in route)
    return Counts(len({s.module for s in route}), returns, climbs, names)


@contextmanager
def tracing() -> Iterator[PathTrace]:
    trace = PathTrace()
    before = sys.getprofile()
    sys.setprofile(trace)  # this thread's: the event loop's
    try:
        yield trace
    finally:
        sys.setprofile(before)


INIT = {"type": "system", "subtype": "init", "session_id": "s", "model": "claude-sonnet-4-5"}
RESULT = {"type": "result", "subtype": "success", "is_error": False, "num_turns": 1,
          "total_cost_usd": 0.01, "result": "r"}  # fmt: skip


def printed(*lines: object) -> list[tuple[int, bytes]]:
    return [(1, b"".join(msgspec.json.encode(line) + b"\n" for line in lines))]


class CrashThenSucceed(FakeEngine):
    """The first container crashes; the next one succeeds."""

    def __init__(self) -> None:
        super().__init__(script=self._next)
        self.made_count = 0

    def _next(self, spec: ContainerSpec) -> Script:
        self.made_count += 1
        if self.made_count == 1:
            return Script(printed(INIT), exit_code=137)
        return Script(printed(INIT, RESULT))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Home, Config, str]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("HOME", str(tmp_path / "host-home"))
    repo = make_repo(tmp_path / "repo")
    config = parse_config(
        f"name: p\nrepos:\n  code: {{path: {repo}, workdir: true}}\n",
        label="p.yml",
        base_dir=tmp_path,
    )
    home = Home(tmp_path / "home")
    batch_id = "p-b-Nov27-1000"
    paths = BatchPaths(home, batch_id)
    paths.root.mkdir(parents=True)
    manifest = BatchManifest(
        batch_id=batch_id, config="p", tag="b", created="2026-11-27T10:00:00.000Z",
        image="scad-p:x", source="test", items=[BatchItem(index=1, tag="b-01", prompt="a")],
        options=BatchOptions(backoff=0.01, stagger=0.0, retries=1),
    )  # fmt: skip
    save_manifest(paths, manifest)
    return home, config, batch_id


@pytest.fixture
async def attempts(project: tuple[Home, Config, str]) -> list[Counts]:
    home, config, batch_id = project
    engine = CrashThenSucceed()
    with tracing() as trace, anyio.fail_after(30):
        state = await run_batch(
            engine, home, config, batch_id, stop_on_signals=False, rng=random.Random(1)
        )
    assert [(i.status, i.attempts) for i in state.items] == [("succeeded", 2)]
    assert len(trace.attempts) == 2
    return [counted(route) for route in trace.attempts]


@pytest.mark.parametrize("attempt", [pytest.param(0, id="fresh"), pytest.param(1, id="retry")])
async def test_an_attempts_run_record_takes_a_short_path_down(
    attempts: list[Counts], attempt: int
) -> None:
    counts = attempts[attempt]
    assert counts.climbs == 0, counts
    assert counts.modules <= MOST_MODULES, counts
    assert counts.returns <= MOST_RETURNS, counts


def test_the_path_is_counted_as_the_code_calls() -> None:
    """The counting itself: a module left and come back to is a return; a call from a
    lower layer into a higher one is a climb, a return up is not."""
    route = [
        Step("scad.batch.scheduler", called=True),
        Step("scad.batch.attempt", called=True),
        Step("scad.sessions.start", called=True),
        Step("scad.runs.catchup", called=True),
        Step("scad.sessions.restart", called=True),
        Step("scad.runs.catchup", called=False),
        Step("scad.sessions.start", called=False),
        Step("scad.batch.attempt", called=False),
        Step("scad.batch.scheduler", called=False),
    ]
    assert counted(route) == Counts(
        modules=5,
        returns=4,
        climbs=1,
        route="scheduler > attempt > start > catchup > restart > catchup > start > attempt > scheduler",
    )
