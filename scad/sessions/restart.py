"""Starting a run again in its own directory: one path for a session resumed and
for a batch's next attempt."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import msgspec

from ..config.schema import Config
from ..errors import SessionError, UsageError
from ..home import Home
from ..image.build import build_image
from ..layout import agent_owner
from ..runs import envelopes
from ..runs.containers import retire_containers
from ..runs.events import append_event, is_supervised
from ..runs.records import RunPaths, RunRecord
from ..runs.supervisor import launch
from .container import acontainer_spec
from .credentials import HostCredentials
from .remote import prepare_swarm_restart
from .remote_engine import prepare_remote_run
from .start import Prepared, _write_claude_state, _write_prompt, arequire_credentials

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["RESTARTED", "Resumed", "prepare_restart", "renew_claude_state", "resume_session"]

#: How the start of a run's later container is logged, whoever starts it again.
RESTARTED = envelopes.Resumed


async def prepare_restart(
    engine: Engine,
    home: Home,
    config: Config,
    record: RunRecord,
    *,
    prompt: str | None,
    resume: bool,
) -> Prepared:
    """Make a run that ran before ready to start again, always in this order: what
    its last container printed is caught up, its containers go (a run on a swarm:
    its services), it gets the host's credentials and scad's settings anew, and the prompt of its next start (none:
    an interactive session goes on where it was). Its start is logged as
    :data:`RESTARTED`. ``resume``: Claude continues its conversation (a session
    resumed), instead of beginning anew with the prompt (a batch's next attempt)."""
    paths = RunPaths(home, record.run_id)
    if record.runs_on == "local" and engine.endpoint.remote:
        raise SessionError(
            f"{record.run_id} ran on this host's engine, where its clones are; point "
            f"DOCKER_HOST (or the Docker context) back at it to start it again, not at "
            f"{engine.endpoint.shown}"
        )
    swarm_run = None
    spec = None
    if record.runs_on == "swarm":
        credentials = await arequire_credentials()
        await anyio.to_thread.run_sync(_write_prompt, paths, prompt)  # its state carries it
        swarm_run = await prepare_swarm_restart(engine, home, config, record)
        notes = swarm_run.notes
    elif record.runs_on == "remote":
        credentials = await arequire_credentials()
        await retire_containers(engine, home, record)
        await anyio.to_thread.run_sync(_write_prompt, paths, prompt)  # its state carries it
        remote = await prepare_remote_run(engine, home, config, record, max_usd=None, resume=resume)
        notes, spec = remote.notes, remote.spec
        for note in notes:
            await append_event(paths, envelopes.Warned(detail=note))
    else:
        await retire_containers(engine, home, record)
        credentials, notes = await renew_claude_state(
            config, paths, engine=engine, interactive=record.mode == "interactive"
        )
        await anyio.to_thread.run_sync(_write_prompt, paths, prompt)
    record.auth = credentials.method
    if prompt:
        record.prompt = prompt
    if spec is None:
        spec = await acontainer_spec(config, record, paths, resume=resume)
    return Prepared(record=record, spec=spec, event=RESTARTED, notes=notes, swarm=swarm_run)


async def renew_claude_state(
    config: Config, paths: RunPaths, *, engine: Engine | None = None, interactive: bool
) -> tuple[HostCredentials, list[str]]:
    """Give a run that starts again a new gateway token and scad's settings (what the
    agent left is replaced, never written through); returns the host's credentials
    and what scad could not use of the agent's state (also logged as ``warning``).
    Without ``engine``, its container reaches the gateway where it did before."""
    credentials = await arequire_credentials()
    notes = await _write_claude_state(engine, config, paths, agent_owner(), interactive=interactive)
    for note in notes:
        await append_event(paths, envelopes.Warned(detail=note))
    return credentials, notes


class Resumed(msgspec.Struct, kw_only=True):
    record: RunRecord
    #: What the agent had left in its Claude state that scad could not use, and
    #: what it did instead (also in the event log, as ``warning`` events).
    notes: list[str]


async def resume_session(
    engine: Engine, home: Home, config: Config, record: RunRecord, *, prompt: str | None = None
) -> Resumed:
    """Start a stopped or finished session again, with its clones and Claude history.

    The container is made anew (its command carries ``--continue``); everything
    that matters lives in the run directory.
    """
    run_id = record.run_id
    if record.cleaned:
        raise SessionError(
            f"run {run_id} was cleaned; start a new session with `scad session start {record.config} --tag ...`"
        )
    if record.runs_on == "swarm":
        raise UsageError(
            f"{run_id} ran on a swarm, where a run starts again only as its batch's next "
            f"attempt; start a new one with `scad session start {record.config} --headless "
            "--wait --on swarm`"
        )
    if record.mode == "headless" and not prompt:
        raise UsageError(
            f"{run_id} is headless: give the next prompt with --prompt or --prompt-file"
        )
    if await anyio.to_thread.run_sync(is_supervised, RunPaths(home, run_id)):
        raise SessionError(
            f"{run_id} is being watched by its supervisor (a batch, or `session start --wait`); "
            f"stop it first with `scad session stop {run_id}`"
        )
    if record.container_id:
        state = await engine.inspect(record.container_id)
        if state is not None and state.running:
            raise SessionError(
                f"{run_id} is already running; attach with `scad session attach {run_id}`"
            )
    await arequire_credentials()
    if await engine.image(record.image) is None:
        record.image = (await build_image(engine, home, config)).image
    prepared = await prepare_restart(engine, home, config, record, prompt=prompt, resume=True)
    await launch(engine, home, record, prepared.spec, event=prepared.event)
    return Resumed(record=record, notes=prepared.notes)
