"""Starting a session, and starting a stopped one again."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from anyio.abc import TaskStatus

from .. import agentfs
from ..code.borrowed import borrowed_store
from ..code.clones import create_clone
from ..config.repos import check_repos
from ..config.schema import Config
from ..config.swarm import Target, placed
from ..engine import ContainerSpec
from ..errors import ScadError, SessionError, UsageError
from ..gateway import load_registration
from ..home import Home
from ..image.build import BuildProgress, build_image
from ..layout import agent_owner
from ..names import branch_name, make_run_id, validate_tag
from ..runs import envelopes
from ..runs.containers import remove_containers
from ..runs.events import append_event
from ..runs.records import RunPaths, RunRecord, asave_run, now_iso, save_run
from ..runs.supervisor import Outcome, Start, launch, supervise
from ..swarm import supervise_on_swarm
from ..taskgroups import open_task_group
from ..threads import async_twin
from .claude_state import Refreshed, refresh_credentials, write_claude_state
from .container import acontainer_spec
from .credentials import HostCredentials, discover_credentials
from .gateway_access import connect_run
from .remote import SwarmRun, check_swarm_config, host_bases, prepare_swarm_run, swarm_manager
from .remote_engine import RunsOn, check_remote_config, prepare_remote_run, runs_on

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "Prepared",
    "RunsOn",
    "SessionRefresh",
    "arequire_credentials",
    "check_runs_on",
    "discard_run",
    "prepare_session",
    "refresh_session",
    "require_credentials",
    "run_session",
    "start_session",
]


def require_credentials() -> HostCredentials:
    credentials = discover_credentials(os.environ)
    if credentials is None:
        raise SessionError(
            "no Claude credentials on this host: set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN, "
            "or log in with `claude` so ~/.claude/.credentials.json exists"
        )
    return credentials


#: The host's credentials are read from files (~/.claude/.credentials.json).
arequire_credentials = async_twin(require_credentials)


def _claim_run(
    home: Home, config: str, tag: str, at: datetime | None, record_of: Callable[[str], RunRecord]
) -> RunRecord:
    """Claim a fresh run directory (the id is unique even against a racing start) and
    write its record at once: a start interrupted from here on leaves a run that
    status lists and clean removes, never a folder no command knows."""
    home.runs.mkdir(parents=True, exist_ok=True)
    while True:
        run_id = make_run_id(config, tag, at or datetime.now(), existing=home.run_ids())
        try:
            home.run_dir(run_id).mkdir(mode=0o700)
        except FileExistsError:
            continue
        record = record_of(run_id)
        try:
            save_run(home, record)
        except BaseException:
            shutil.rmtree(home.run_dir(run_id), ignore_errors=True)
            raise
        return record


async def _write_claude_state(
    engine: Engine | None,
    config: Config,
    paths: RunPaths,
    owner: tuple[int, int] | None,
    *,
    max_usd: float | None = None,
    interactive: bool,
) -> list[str]:
    """:func:`write_claude_state`, with a new gateway token for the run (see
    :func:`connect_run`); a host that cannot write it (its disk full, the config's
    CLAUDE.md gone) is the user's to fix, not a bug."""
    access = await connect_run(
        engine, paths.home, config, paths.root.name, max_usd=max_usd, interactive=interactive
    )
    try:
        return await anyio.to_thread.run_sync(write_claude_state, config, paths, access, owner)
    except OSError as exc:
        raise SessionError(f"{paths.root.name}: cannot write its Claude state: {exc}") from exc


def _write_prompt(paths: RunPaths, prompt: str | None) -> None:
    agentfs.replace_file(
        paths.inputs / "prompt.txt", (prompt or "").encode(), staging=paths.root, mode=0o644
    )


class Prepared(msgspec.Struct, kw_only=True):
    """A run ready to start: its directory, clones and Claude state made."""

    record: RunRecord
    spec: ContainerSpec
    #: How its start is logged: ``started`` the first time, ``resumed`` after.
    event: Start = envelopes.Started
    #: What the agent had left in its Claude state that scad could not use, and
    #: what it did instead (also in the event log, as ``warning`` events).
    notes: list[str] = []
    #: A run on a swarm: its service and token (None: a local run, in ``spec``).
    swarm: SwarmRun | None = None


async def prepare_session(
    engine: Engine,
    home: Home,
    config: Config,
    *,
    tag: str,
    prompt: str | None = None,
    headless: bool = False,
    image: str | None = None,
    build_progress: Callable[[BuildProgress], None] | None = None,
    batch: tuple[str, int] | None = None,
    named_at: datetime | None = None,
    max_usd_per_run: float | None = None,
    on: Target | None = None,
) -> Prepared:
    """Checks, run directory, clones and Claude state; the container is not made yet.

    ``image`` is the config's image when the caller built it already (a batch
    builds once); else it is built (with progress) when missing. ``batch`` names
    the batch and item the run belongs to; ``named_at``, the time its id
    carries (a batch's runs carry the batch's); ``max_usd_per_run``, the budget
    the gateway holds the run to from its first model call; ``on``, where it runs
    (the config's ``runs_on`` by default: on a swarm, or on an engine on another host,
    it has no clones here, and gets its files through the gateway). Any failure rolls
    everything back: no half-made run is left behind.
    """
    validate_tag(tag)
    if headless and not prompt:
        raise UsageError("a headless session needs a prompt (--prompt or --prompt-file)")
    where = runs_on(engine, placed(config, on or config.runs_on))
    check_runs_on(engine, config, where, headless=headless)
    await check_repos(config, f"{config.name}.yml")
    credentials = await arequire_credentials()
    if image is None:
        image = (await build_image(engine, home, config, progress=build_progress)).image

    def record_of(run_id: str) -> RunRecord:
        return RunRecord(
            run_id=run_id,
            config=config.name,
            tag=tag,
            mode="headless" if headless else "interactive",
            image=image,
            branch=branch_name(run_id),
            created=now_iso(),
            repos={key: repo.path for key, repo in config.repos.items()},
            prompt=prompt,
            auth=credentials.method,
            batch_id=batch[0] if batch else None,
            item=batch[1] if batch else None,
            max_usd_per_run=max_usd_per_run,
            runs_on=where,
        )

    record = await anyio.to_thread.run_sync(_claim_run, home, config.name, tag, named_at, record_of)
    run_id, branch = record.run_id, record.branch
    paths = RunPaths(home, run_id)
    try:
        if where != "local":
            record.bases = await host_bases(config)
            await asave_run(home, record)
        if where == "swarm":
            swarm_run = await prepare_swarm_run(
                engine, home, config, record, max_usd=max_usd_per_run
            )
            await anyio.to_thread.run_sync(_write_prompt, paths, prompt)
            detail = f"image {swarm_run.service.image}, branch {branch}, on the swarm"
            await append_event(paths, envelopes.Created(detail=detail))
            spec = await acontainer_spec(config, record, paths, resume=False)
            return Prepared(record=record, spec=spec, swarm=swarm_run)
        if where == "remote":
            remote = await prepare_remote_run(engine, home, config, record, max_usd=max_usd_per_run)
            await anyio.to_thread.run_sync(_write_prompt, paths, prompt)
            detail = f"image {image}, branch {branch}, on {engine.endpoint.shown}"
            await append_event(paths, envelopes.Created(detail=detail))
            return Prepared(record=record, spec=remote.spec)
    except BaseException:
        await discard_run(home, run_id)
        raise
    try:
        owner = agent_owner()
        stores = {key: borrowed_store(home, Path(repo.path)) for key, repo in config.repos.items()}
        # Recorded before any clone borrows: gc keeps the stores a run's record names.
        record.borrowed = {key: store.name for key, store in sorted(stores.items())}
        await asave_run(home, record)
        paths.worktrees.mkdir()
        bases: dict[str, str] = {}

        async def clone(key: str, host_repo: Path) -> None:
            bases[key] = await create_clone(
                host_repo, paths.clone(key), branch, owner=owner, borrowed=stores[key]
            )

        async with open_task_group() as tg:
            for key, repo in config.repos.items():
                tg.start_soon(clone, key, Path(repo.path))
        record.bases = dict(sorted(bases.items()))
        await asave_run(home, record)
        await _write_claude_state(
            engine, config, paths, owner, max_usd=max_usd_per_run, interactive=not headless
        )
        await anyio.to_thread.run_sync(_write_prompt, paths, prompt)
        # After the clones: the stores they borrow from are mounted when they exist.
        spec = await acontainer_spec(config, record, paths, resume=False)
        await append_event(paths, envelopes.Created(detail=f"image {image}, branch {branch}"))
    except BaseException:
        await discard_run(home, run_id)
        raise
    return Prepared(record=record, spec=spec)


def check_runs_on(engine: Engine, config: Config, where: RunsOn, *, headless: bool) -> None:
    """Refuse, before anything is made, a run that cannot go ``where`` as ``config``
    says (one line: what it lacks, and how to give it)."""
    if where == "local":
        return
    if not headless:
        place = "a swarm" if where == "swarm" else "a remote engine"
        raise UsageError(f"a run on {place} is headless (no terminal reaches it): add --headless")
    if where == "swarm":
        check_swarm_config(config)
    else:
        check_remote_config(engine, config)


async def discard_run(home: Home, run_id: str) -> None:
    """Remove the directory of a run that never started."""
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(shutil.rmtree, home.run_dir(run_id), True)


async def start_session(engine: Engine, home: Home, config: Config, **options: Any) -> RunRecord:
    """Prepare a run and start its container unwatched (its log is caught up later).

    Takes :func:`prepare_session`'s options. Any failure rolls everything back.
    """
    if (options.get("on") or config.runs_on) == "swarm":
        raise UsageError("a run on a swarm is watched to its end: add --wait")
    prepared = await prepare_session(engine, home, config, **options)
    try:
        await launch(engine, home, prepared.record, prepared.spec)
    except BaseException:
        with anyio.CancelScope(shield=True), anyio.move_on_after(30):
            await remove_containers(engine, home, prepared.record)
        await discard_run(home, prepared.record.run_id)
        raise
    return prepared.record


async def run_session(
    engine: Engine,
    home: Home,
    config: Config,
    *,
    idle_timeout: float | None = None,
    task_status: TaskStatus[RunRecord] = anyio.TASK_STATUS_IGNORED,
    **options: Any,
) -> Outcome:
    """Prepare a headless run and supervise it to its end; reports the run once its
    container started. A run that could not start is rolled back, and raises."""
    prepared = await prepare_session(engine, home, config, headless=True, **options)
    try:
        if prepared.swarm is not None:
            return await supervise_on_swarm(
                swarm_manager(engine, config), home, prepared.record,
                prepared.swarm.service, prepared.swarm.token,
                idle_timeout=idle_timeout, task_status=task_status,
            )  # fmt: skip
        return await supervise(
            engine, home, prepared.record, prepared.spec,
            idle_timeout=idle_timeout, task_status=task_status,
        )  # fmt: skip
    except ScadError:
        await discard_run(home, prepared.record.run_id)  # it never started: nothing to keep
        raise


class SessionRefresh(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    running: bool
    #: None for a run that reaches the model through the gateway: it holds the login.
    credentials: Refreshed | None


async def refresh_session(engine: Engine, home: Home, record: RunRecord) -> SessionRefresh:
    """Hand a session made before the gateway the host's current credentials (see
    :func:`refresh_credentials`); logged as ``refreshed`` (the method and expiry,
    never the secret). A run of the gateway has nothing to refresh."""
    if record.cleaned:
        raise SessionError(f"{record.run_id} was cleaned; there is nothing to refresh")
    paths = RunPaths(home, record.run_id)
    if await anyio.to_thread.run_sync(load_registration, home, record.run_id) is not None:
        return SessionRefresh(run_id=record.run_id, running=False, credentials=None)
    credentials = await arequire_credentials()
    refreshed = await anyio.to_thread.run_sync(
        refresh_credentials, paths, credentials, agent_owner()
    )
    expiry = refreshed.expires_at.isoformat(timespec="seconds") if refreshed.expires_at else None
    detail = refreshed.method + (f", expires {expiry}" if expiry else "")
    kept = " (kept the run's own)" if refreshed.kept else ""
    await append_event(paths, envelopes.Refreshed(detail=detail + kept))
    state = await engine.inspect(record.container_id) if record.container_id else None
    return SessionRefresh(
        run_id=record.run_id, running=state is not None and state.running, credentials=refreshed
    )
