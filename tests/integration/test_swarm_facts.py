"""What Docker Swarm does on this engine, measured against a real multi-node swarm
(tests/integration/cluster.py): the facts a swarm backend relies on."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiodocker
import anyio
import pytest

from .cluster import NODE_LABEL, Swarm, set_availability

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.swarm]

FACTS_LABEL = "scad.test.swarm-facts"


class Jobs:
    """Makes one-task replicated-job services on the swarm and removes them after."""

    def __init__(self, docker: aiodocker.Docker, swarm: Swarm) -> None:
        self.docker = docker
        self.swarm = swarm
        self.made: list[str] = []

    async def create(
        self,
        script: str,
        *,
        restart: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None,
        constraints: list[str] | None = None,
    ) -> str:
        template: dict[str, Any] = {
            "ContainerSpec": {"Image": self.swarm.image, "Command": ["sh", "-c", script]},
            "RestartPolicy": dict(restart or {"Condition": "none"}),
        }
        if resources:
            template["Resources"] = dict(resources)
        if constraints:
            template["Placement"] = {"Constraints": constraints}
        created = await self.docker.services.create(
            template,
            name=f"facts-{uuid.uuid4().hex[:8]}",
            labels={FACTS_LABEL: "1"},
            mode={"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
        )
        self.made.append(created["ID"])
        return str(created["ID"])

    async def tasks(self, service_id: str) -> list[Mapping[str, Any]]:
        return await self.docker.tasks.list(filters={"service": [service_id]})

    async def task_in(self, service_id: str, states: set[str], timeout: float = 120) -> Any:
        """The service's first task once its state is one of ``states``."""

        async def reached() -> Any:
            tasks = await self.tasks(service_id)
            return tasks[0] if tasks and tasks[0]["Status"]["State"] in states else None

        return await poll(reached, timeout)

    async def settle(self) -> None:
        """Gate: a fresh job run to completion, so the orchestrator has acted on
        everything before it (a respawn of an earlier task would be made by now)."""
        sentinel = await self.create("exit 0")
        await self.task_in(sentinel, {"complete"})


async def poll(check: Any, timeout: float) -> Any:
    with anyio.fail_after(timeout):
        while True:
            result = await check()
            if result:
                return result
            await anyio.sleep(0.2)


@pytest.fixture
async def jobs(swarm: Swarm) -> AsyncIterator[Jobs]:
    async with aiodocker.Docker() as docker:
        made = Jobs(docker, swarm)
        try:
            yield made
        finally:
            with anyio.move_on_after(60, shield=True):
                for service_id in made.made:
                    try:
                        await docker.services.delete(service_id)
                    except aiodocker.DockerError as exc:
                        if exc.status != 404:
                            raise


async def test_a_replicated_job_runs_one_task_to_its_exit_code(jobs: Jobs) -> None:
    failing = await jobs.create("echo failing; exit 3")
    task = await jobs.task_in(failing, {"failed", "complete", "rejected"})
    assert task["Status"]["State"] == "failed"
    assert task["Status"]["ContainerStatus"]["ExitCode"] == 3
    assert task["Status"]["Err"] == "task: non-zero exit (3)"
    succeeding = await jobs.create("exit 0")
    task = await jobs.task_in(succeeding, {"failed", "complete", "rejected"})
    assert task["Status"]["State"] == "complete"
    assert task["Status"]["ContainerStatus"]["ExitCode"] == 0
    await jobs.settle()
    assert len(await jobs.tasks(failing)) == 1  # no second task
    assert len(await jobs.tasks(succeeding)) == 1


async def test_restart_max_attempts_zero_on_a_job(jobs: Jobs) -> None:
    """`--restart-max-attempts 0` with condition none: one task, no respawn. (With
    on-failure it would mean no limit: the engine retries a failing job's task.)"""
    none = await jobs.create("exit 3", restart={"Condition": "none", "MaxAttempts": 0})
    await jobs.task_in(none, {"failed"})
    await jobs.settle()
    assert len(await jobs.tasks(none)) == 1
    retried = await jobs.create(
        "exit 3", restart={"Condition": "on-failure", "MaxAttempts": 2, "Delay": 0}
    )

    async def three_failed() -> bool:
        tasks = await jobs.tasks(retried)
        return sum(t["Status"]["State"] == "failed" for t in tasks) == 3

    await poll(three_failed, 120)  # the first attempt and 2 restarts
    await jobs.settle()
    assert len(await jobs.tasks(retried)) == 3


async def test_a_reservation_beyond_every_node_leaves_the_task_pending(jobs: Jobs) -> None:
    too_big = await jobs.create("exit 0", resources={"Reservations": {"NanoCPUs": 64 * 10**9}})
    task = await jobs.task_in(too_big, {"pending"})

    async def explained() -> Any:
        err = (await jobs.tasks(too_big))[0]["Status"].get("Err", "")
        return err if "insufficient resources" in err else None

    assert "no suitable node" in await poll(explained, 60)
    fits = await jobs.create("exit 0", resources={"Reservations": {"NanoCPUs": 10**9}})
    await jobs.task_in(fits, {"complete"})
    await jobs.settle()
    task = (await jobs.tasks(too_big))[0]
    assert task["Status"]["State"] == "pending"
    assert not task.get("NodeID")


async def test_a_label_constraint_places_the_task_and_the_node_pulls_by_digest(
    jobs: Jobs, swarm: Swarm
) -> None:
    worker = swarm.worker("w1")
    placed = await jobs.create("exit 0", constraints=[f"node.labels.{NODE_LABEL}==w1"])
    task = await jobs.task_in(placed, {"complete", "failed", "rejected"})
    assert task["Status"]["State"] == "complete", task["Status"]
    assert task["NodeID"] == worker.node_id
    assert task["Spec"]["ContainerSpec"]["Image"] == swarm.image
    async with aiodocker.Docker(url=worker.socket) as node:
        image = await node.images.inspect(swarm.image)
    assert swarm.image in image["RepoDigests"]  # pulled from the registry by digest


class LogFrames:
    """Lines of a multiplexed (non-TTY) log stream: 8-byte frame headers, lines that
    may span frames. aiodocker has no task-logs call; this is the raw API."""

    @staticmethod
    async def lines(docker: aiodocker.Docker, path: str, params: Mapping[str, Any]) -> Any:
        async with docker._query(path, method="GET", params=params) as response:
            pending = b""
            while True:
                try:
                    header = await response.content.readexactly(8)
                except asyncio.IncompleteReadError:
                    break
                pending += await response.content.readexactly(int.from_bytes(header[4:], "big"))
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line


async def test_task_logs_followed_late_hold_every_line_from_the_start(
    jobs: Jobs, swarm: Swarm
) -> None:
    """A follow opened after the task printed starts at its first line: nothing is
    lost between task start and follow; timestamps prefix each line."""
    script = "i=1; while [ $i -le 300 ]; do echo line $i; i=$((i+1)); sleep 0.01; done"
    service = await jobs.create(script, constraints=[f"node.labels.{NODE_LABEL}==w1"])
    task = await jobs.task_in(service, {"running", "complete"})
    params = {"stdout": "1", "stderr": "1", "timestamps": "1"}

    async def printed_already() -> bool:
        lines = [
            line async for line in LogFrames.lines(jobs.docker, f"tasks/{task['ID']}/logs", params)
        ]
        return len(lines) > 0

    await poll(printed_already, 60)  # the follow below begins after lines were printed
    followed: list[bytes] = []
    ended = anyio.Event()

    async def follow() -> None:
        # Closed when cancelled, so its response goes back to the pool on this loop.
        stream = LogFrames.lines(jobs.docker, f"tasks/{task['ID']}/logs", {**params, "follow": "1"})
        async with contextlib.aclosing(stream) as lines:
            async for line in lines:
                followed.append(line)
        ended.set()

    async with anyio.create_task_group() as group:
        group.start_soon(follow)

        async def all_read() -> bool:
            state = (await jobs.tasks(service))[0]["Status"]["State"]
            return state == "complete" and len(followed) >= 300

        await poll(all_read, 120)
        await jobs.settle()
        # The follow does not end when the task does: the reader must watch the task.
        assert not ended.is_set()
        group.cancel_scope.cancel()
    stamps, texts = zip(*(line.split(b" ", 1) for line in followed), strict=True)
    assert list(texts) == [f"line {n}".encode() for n in range(1, 301)]
    assert all(stamp.endswith(b"Z") and b"T" in stamp for stamp in stamps)
    # Resuming from a line's engine timestamp: `since` takes seconds with nanoseconds.
    middle = stamps[150].decode()
    since = _unix_nanos(middle)
    resumed = [
        line.split(b" ", 1)[1]
        async for line in LogFrames.lines(
            jobs.docker, f"tasks/{task['ID']}/logs", {**params, "since": since}
        )
    ]
    assert resumed == list(texts)[150:]  # from that line on, itself included
    # The service's logs are the same lines.
    via_service = [
        line.split(b" ", 1)[1]
        async for line in LogFrames.lines(jobs.docker, f"services/{service}/logs", params)
    ]
    assert via_service == list(texts)


def _unix_nanos(stamp: str) -> str:
    """An RFC 3339 nanosecond timestamp as the `since` the API takes ("secs.nanos")."""
    whole, fraction = stamp.rstrip("Z").split(".")
    seconds = int(time.mktime(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) - time.timezone)
    return f"{seconds}.{fraction.ljust(9, '0')}"


async def test_a_drained_node_keeps_its_running_job_task(jobs: Jobs, swarm: Swarm) -> None:
    """Draining does not stop a job's task: it reads running (desired: complete)."""
    worker = swarm.worker("w2")
    service = await jobs.create("echo up; sleep 600", constraints=["node.hostname==w2"])
    await jobs.task_in(service, {"running"})
    await set_availability(jobs.docker, worker.node_id, "drain")
    try:
        await jobs.settle()
        tasks = await jobs.tasks(service)
        assert [(t["Status"]["State"], t["DesiredState"]) for t in tasks] == [
            ("running", "complete")
        ]
    finally:
        await set_availability(jobs.docker, worker.node_id, "active")


async def test_a_killed_node_turns_down_and_its_task_still_reads_running(
    jobs: Jobs, swarm: Swarm
) -> None:
    """w3 is this test's to kill: its dockerd SIGKILLed by pid mid-task. The manager
    marks the node down (heartbeat failure); the job's task still reads running."""
    worker = swarm.worker("w3")
    service = await jobs.create("echo up; sleep 600", constraints=["node.hostname==w3"])
    await jobs.task_in(service, {"running"})
    worker.kill()

    async def down() -> Any:
        node = await jobs.docker.nodes.inspect(node_id=worker.node_id)
        return node if node["Status"]["State"] == "down" else None

    node = await poll(down, 120)
    assert node["Status"]["Message"] == "heartbeat failure"
    await jobs.settle()
    tasks = await jobs.tasks(service)
    assert [(t["Status"]["State"], t["DesiredState"]) for t in tasks] == [("running", "complete")]
