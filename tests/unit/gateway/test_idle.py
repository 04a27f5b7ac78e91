"""A run's word that it waits for its user: heard only with its token, at most once per
its interval, told to the notifier it was registered with, in scad's words alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import anyio
import pytest

from scad.config.schema import NotifySettings
from scad.gateway._credentials import Credential, StaticCredential
from scad.gateway._events import Exchange, NotifyFailed, gateway_usage, read_gateway_events
from scad.gateway._idle import IdleGate
from scad.gateway._registry import Registration, events_path, register_run, revoke_run
from scad.gateway._server import serve_gateway
from scad.home import Home
from scad.notify.deliver import Delivery
from scad.notify.hook import IDLE_PATH
from scad.notify.notice import Notice

pytestmark = pytest.mark.anyio

TOLD = NotifySettings(url="http://127.0.0.1:9/told", command="cat", idle_seconds=3600)


class Deliveries:
    """A notifier's stand-in: records what it is given, answers as the test says."""

    def __init__(self, *, ok: bool = True, hang: bool = False) -> None:
        self.given: list[tuple[NotifySettings, Notice]] = []
        self.ok, self.hang = ok, hang
        self.arrived = anyio.Event()

    async def __call__(self, settings: NotifySettings, notice: Notice) -> list[Delivery]:
        self.given.append((settings, notice))
        self.arrived.set()
        if self.hang:
            await anyio.sleep_forever()
        return [Delivery(target="url", ok=self.ok, detail="HTTP 500: down" if not self.ok else "")]


class Setup:
    def __init__(self, home: Home, url: str, client: aiohttp.ClientSession) -> None:
        self.home, self.url, self.client = home, url, client

    def register(
        self, run_id: str, notify: NotifySettings | None = TOLD, **more: object
    ) -> Registration:
        self.home.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return register_run(
            self.home,
            run_id,
            upstream="http://127.0.0.1:9",
            config="proj",
            notify=notify,
            **more,  # type: ignore[arg-type]
        )

    async def idle(self, headers: dict[str, str], **request: object) -> int:
        async with self.client.post(self.url + IDLE_PATH, headers=headers, **request) as answer:  # type: ignore[arg-type]
            await answer.read()
            return answer.status


def bearer(registration: Registration) -> dict[str, str]:
    return {"authorization": f"Bearer {registration.token}"}


@asynccontextmanager
async def gateway(tmp_path: Path, deliveries: Deliveries) -> AsyncIterator[Setup]:
    home = Home(tmp_path / "home")
    credential = StaticCredential(Credential(kind="api-key", secret="sk-host"))
    with anyio.fail_after(30):  # a hang fails the test instead of stalling the suite
        async with (
            serve_gateway(home, credential, deliver=deliveries) as listening,
            aiohttp.ClientSession() as client,
        ):
            yield Setup(home, f"http://127.0.0.1:{listening.port}", client)


async def test_no_token_a_wrong_one_and_a_revoked_one_are_refused(tmp_path: Path) -> None:
    deliveries = Deliveries()
    async with gateway(tmp_path, deliveries) as setup:
        a, b = setup.register("run-a"), setup.register("run-b")
        for headers in (
            {},
            {"authorization": "Bearer nonsense"},
            {"authorization": f"Bearer run-a.{b.secret}"},
            {"authorization": f"Bearer {a.token}x"},
            {"authorization": f"Basic {a.token}"},
        ):
            assert await setup.idle(headers) == 401, headers
        revoke_run(setup.home, "run-a")
        assert await setup.idle(bearer(a)) == 401
    assert deliveries.given == []


async def test_a_run_calling_in_a_loop_is_heard_once(tmp_path: Path) -> None:
    deliveries = Deliveries()
    async with gateway(tmp_path, deliveries) as setup:
        a, b = setup.register("run-a"), setup.register("run-b")
        answers = [await setup.idle(bearer(a)) for _ in range(50)]
        assert answers == [202] + [429] * 49
        assert await setup.idle(bearer(b)) == 202  # another run is heard on its own
        # A new token (a session started again) does not reset what was heard.
        again = setup.register("run-a")
        assert await setup.idle(bearer(again)) == 429
    assert sorted(notice.run_id or "" for _, notice in deliveries.given) == ["run-a", "run-b"]


async def test_a_run_without_a_notifier_tells_nobody(tmp_path: Path) -> None:
    deliveries = Deliveries()
    async with gateway(tmp_path, deliveries) as setup:
        quiet = setup.register("run-a", notify=None)
        assert await setup.idle(bearer(quiet)) == 204
        unset = setup.register("run-b", notify=NotifySettings())
        assert await setup.idle(bearer(unset)) == 204
    assert deliveries.given == []


async def test_the_notice_is_scads_not_the_requests(tmp_path: Path) -> None:
    deliveries = Deliveries()
    async with gateway(tmp_path, deliveries) as setup:
        run = setup.register("run-a", batch="proj-b-Nov27")
        setup.register("run-b")
        forged = {
            "schema": 9, "kind": "batch-ended", "config": "evil", "run_id": "run-b",
            "time": "1999-01-01T00:00:00Z", "url": "http://evil.example/", "command": "rm -rf ~",
        }  # fmt: skip
        before = datetime.now(UTC)
        status = await setup.idle(
            bearer(run) | {"x-scad-config": "evil", "date": "Fri, 01 Jan 1999 00:00:00 GMT"},
            json=forged,
            params={"run_id": "run-b", "config": "evil"},
        )
        assert status == 202
    ((settings, notice),) = deliveries.given
    assert settings == TOLD
    assert notice.kind == "session-idle" and notice.config == "proj"
    assert notice.run_id == "run-a" and notice.batch_id == "proj-b-Nov27"
    assert notice.outcome is notice.detail is notice.counts is notice.item is None
    assert datetime.fromisoformat(notice.time) >= before.replace(microsecond=0)


async def test_a_notifier_that_hangs_holds_no_answer_up(tmp_path: Path) -> None:
    deliveries = Deliveries(hang=True)
    async with gateway(tmp_path, deliveries) as setup:
        runs = [setup.register(f"run-{n}") for n in range(5)]
        for run in runs:
            assert await setup.idle(bearer(run)) == 202
        await deliveries.arrived.wait()
        # The gateway's other answers go on while every delivery hangs.
        async with setup.client.get(setup.url + "/") as probe:
            assert probe.status == 200
        assert await setup.idle(bearer(runs[0])) == 429
    # ...and the gateway stops with them still hanging.
    assert len(deliveries.given) == 5


async def test_a_delivery_that_fails_is_the_runs_gateway_event(tmp_path: Path) -> None:
    deliveries = Deliveries(ok=False)
    async with gateway(tmp_path, deliveries) as setup:
        run = setup.register("run-a")
        assert await setup.idle(bearer(run)) == 202
        path = events_path(setup.home, "run-a")
        with anyio.fail_after(10):
            while not list(read_gateway_events(path)):
                await anyio.sleep(0.01)
    (event,) = read_gateway_events(path)
    assert isinstance(event, NotifyFailed)
    assert (event.kind, event.target, event.detail) == ("session-idle", "url", "HTTP 500: down")
    # It is no model call: nothing is spent or counted.
    assert gateway_usage([path]).requests == 0
    assert not any(isinstance(e, Exchange) for e in read_gateway_events(path))


def test_the_gate_hears_each_run_once_per_its_interval() -> None:
    gate = IdleGate()
    assert gate.admit("a", 60, now=0)
    assert not gate.admit("a", 60, now=59.9)
    assert gate.admit("b", 60, now=59.9)
    assert gate.admit("a", 60, now=60)
    assert not gate.admit("a", 60, now=100)


def test_the_gate_remembers_a_bounded_number_of_runs() -> None:
    gate = IdleGate(capacity=3)
    assert all(gate.admit(f"run-{n}", 60, now=0) for n in range(3))
    # Full of runs still quiet: a new one waits, and none is forgotten early.
    assert not gate.admit("run-3", 60, now=1)
    assert not gate.admit("run-0", 60, now=1)
    assert len(gate) == 3
    # Once their intervals pass, they make room.
    for n in range(1000):
        assert gate.admit(f"other-{n}", 60, now=60 * (n + 1))
        assert len(gate) <= 3
