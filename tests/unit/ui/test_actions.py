"""The page's actions: each the very library call its command makes, answered in JSON."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import anyio
import pytest

from scad.batch.events import Ended, Requeued
from scad.batch.store import BatchPaths, read_batch_events
from scad.home import Home
from scad.runs.logread import read_all_events
from scad.runs.records import RunPaths, load_run
from scad.ui import Serving
from tests.fakes import FakeEngine
from tests.unit.ui.conftest import BATCH, BRANCH, RUN, log_in, origin

pytestmark = pytest.mark.anyio


async def post(http: aiohttp.ClientSession, serving: Serving, path: str) -> tuple[int, object]:
    csrf = await log_in(http, serving)
    headers = {"X-Scad-Csrf": csrf, **origin(serving)}
    async with http.post(serving.bound.origin + path, headers=headers) as response:
        return response.status, await response.json()


async def test_stop_a_run_stops_its_container_as_session_stop_does(
    serving: Serving, http: aiohttp.ClientSession, engine: FakeEngine, home: Home
) -> None:
    status, answer = await post(http, serving, f"/run/{RUN}/stop")
    assert (status, answer) == (200, {"results": [{"run_id": RUN, "outcome": "stopped"}]})
    container_id = load_run(home, RUN).container_id
    assert container_id is not None
    state = await engine.inspect(container_id)
    assert state is not None and not state.running
    events = await read_all_events(RunPaths(home, RUN))
    kinds = [type(e).__name__ for e in events]
    # The stop is logged before the container ends, as session stop logs it.
    assert kinds[-2:] == ["Stopped", "Exited"], kinds
    status, answer = await post(http, serving, f"/run/{RUN}/stop")
    assert answer == {"results": [{"run_id": RUN, "outcome": "not-running"}]}


async def test_stop_a_batch_ends_it_as_batch_stop_does(
    serving: Serving, http: aiohttp.ClientSession, home: Home
) -> None:
    status, answer = await post(http, serving, f"/batch/{BATCH}/stop")
    assert (status, answer) == (200, {"stopped": BATCH})
    assert isinstance(read_batch_events(BatchPaths(home, BATCH))[-1], Ended)


async def test_retry_requeues_the_failed_prompts_and_starts_a_supervisor(
    serving: Serving, http: aiohttp.ClientSession, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[str] = []

    async def spawn_supervisor(home: Home, batch_id: str) -> int:
        spawned.append(batch_id)
        return 4242

    monkeypatch.setattr("scad.batch.process.spawn_supervisor", spawn_supervisor)
    status, answer = await post(http, serving, f"/batch/{BATCH}/retry")
    assert (status, answer) == (200, {"batch_id": BATCH, "requeued": [1], "supervisor": 4242})
    assert spawned == [BATCH]
    assert isinstance(read_batch_events(BatchPaths(home, BATCH))[-1], Requeued)


async def test_fetch_brings_the_runs_branches_home_as_code_fetch_does(
    serving: Serving, http: aiohttp.ClientSession, repo: Path
) -> None:
    status, answer = await post(http, serving, f"/run/{RUN}/fetch")
    assert status == 200
    assert isinstance(answer, dict) and answer["run_id"] == RUN
    (fetched,) = answer["repos"]
    assert BRANCH in [b["branch"] for b in fetched["branches"]]
    listed = await anyio.run_process(
        ["git", "-C", str(repo), "branch", "--format=%(refname:short)"]
    )
    branches = listed.stdout.decode().split()
    assert BRANCH in branches


async def test_an_action_on_what_does_not_exist_says_so_in_json(
    serving: Serving, http: aiohttp.ClientSession
) -> None:
    status, answer = await post(http, serving, "/run/nope/stop")
    assert status == 404
    assert isinstance(answer, dict) and "nope" in answer["error"]
