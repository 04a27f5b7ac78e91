"""One check in a container of its own: made from the config's image as a run's is
made (the agent's user, the config's limits and hardening) but with no network, its
output's end kept, stopped at its time limit, and always removed."""

from __future__ import annotations

import contextlib
import os
import secrets
import time

import anyio
import msgspec

from ..config.schema import Config
from ..engine import BindMount, ContainerSpec, Engine, labels
from ..errors import EngineError, EngineUnavailable
from ..home import Home
from ..layout import WORKSPACE, agent_ids
from ..sessions.claude_setup import container_workdir
from ..sessions.container import container_limits, container_security, host_timezone
from .folder import CHECK_PREFIX
from .tail import OutputTail

__all__ = [
    "CHECK_LOG_BYTES",
    "CLEANUP_SECONDS",
    "CheckRun",
    "check_spec",
    "run_in_container",
]

#: What the engine keeps of a check's output: scad reads it as it comes (attached), and
#: a check that prints without end would otherwise fill the engine's disk until its
#: time limit.
CHECK_LOG_BYTES = 1 << 20
#: How long removing a check's container may take, whatever ended it.
CLEANUP_SECONDS = 30.0


class CheckRun(msgspec.Struct, frozen=True, kw_only=True):
    """How a check's command ended."""

    #: None: stopped at its time limit, or it could not start.
    exit_code: int | None
    duration_ms: int
    output: str | None
    timed_out: bool = False


def check_spec(
    home: Home,
    config: Config,
    image: str,
    *,
    name: str,
    run: str,
    checkouts: dict[str, str],
    folder: str,
) -> ContainerSpec:
    """The container of check ``name``: ``sh -c run`` where the run's Claude starts
    (the workdir repo, or its focus folder), each checkout (repo key -> host folder)
    where a run sees that repo, and the config's mounts read-only: a check sees the
    data the run saw, and never changes it. It names the check's ``folder`` (held
    while the check goes: see :mod:`.folder`)."""
    uid, gid = agent_ids(os.getuid(), os.getgid())
    mounts = [BindMount(folder, str(WORKSPACE / key)) for key, folder in checkouts.items()]
    mounts += [BindMount(m.host, m.container or m.host, read_only=True) for m in config.mounts]
    return ContainerSpec(
        image=image,
        name=f"{CHECK_PREFIX}{config.name}-{secrets.token_hex(4)}",
        labels={
            labels.CHECK: name,
            labels.CHECK_FOLDER: folder,
            labels.HOME: labels.home_label(home),
            labels.CONFIG: config.name,
        },
        command=["sh", "-c", run],
        user=f"{uid}:{gid}",
        env={"TZ": host_timezone()},
        mounts=mounts,
        workdir=container_workdir(config),
        network="none",
        limits=container_limits(config),
        security=container_security(config),
        log_max_bytes=CHECK_LOG_BYTES,
    )


async def run_in_container(engine: Engine, spec: ContainerSpec, *, seconds: float) -> CheckRun:
    """Run ``spec``'s container to its end or for ``seconds`` at most; it is removed
    whatever happens (cancelled too). One that cannot be made or started is reported
    with its reason as output; raises EngineUnavailable when the engine is away."""
    tail = OutputTail()
    began = time.monotonic()
    container_id: str | None = None
    timed_out = False
    exit_code: int | None = None
    try:
        container_id = await engine.create_container(spec)
        with anyio.move_on_after(seconds) as scope:
            # Attached before the start: nothing it prints is missed.
            async with engine.attach(container_id) as stream:
                await engine.start(container_id)
                while (chunk := await stream.read()) is not None:
                    tail.add(chunk.data)
            exit_code = (await engine.wait(container_id)).exit_code
        timed_out = scope.cancelled_caught
    except EngineUnavailable:
        raise
    except EngineError as exc:
        tail.add(f"\nscad: the check could not run: {exc}\n".encode())
    finally:
        if container_id is not None:
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(CLEANUP_SECONDS),
                contextlib.suppress(EngineError, EngineUnavailable),
            ):
                await engine.remove(container_id, force=True)
    if timed_out:
        tail.add(f"\nscad: stopped after {seconds:g} s\n".encode())
    return CheckRun(
        exit_code=None if timed_out else exit_code,
        duration_ms=round((time.monotonic() - began) * 1000),
        output=tail.text() or None,
        timed_out=timed_out,
    )
