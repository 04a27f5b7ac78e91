"""Starting a session, and starting a stopped one again."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..build import BuildProgress, build_image
from ..claude_setup import claude_arguments
from ..clones import check_repos, create_clone
from ..config import Config
from ..credentials import HostCredentials, discover_credentials
from ..errors import SessionError, UsageError
from ..events import append_event
from ..home import Home
from ..image import agent_ids
from ..names import branch_name, make_run_id, validate_tag
from ..runs import RunPaths, RunRecord, now_iso, save_run
from .claude_state import write_claude_state
from .container import host_timezone, run_container_spec
from .logs import catch_up

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["Resumed", "resume_session", "start_session"]


def _agent_owner() -> tuple[int, int] | None:
    """Who must own the files the agent writes to, when that is not the host user."""
    uid, gid = os.getuid(), os.getgid()
    agent = agent_ids(uid, gid)
    return None if agent == (uid, gid) else agent


def _require_credentials() -> HostCredentials:
    credentials = discover_credentials(os.environ)
    if credentials is None:
        raise SessionError(
            "no Claude credentials on this host: set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN, "
            "or log in with `claude` so ~/.claude/.credentials.json exists"
        )
    return credentials


def _make_run_dir(home: Home, config: str, tag: str) -> str:
    """Claim a fresh run directory; the id is unique even against a racing start."""
    home.runs.mkdir(parents=True, exist_ok=True)
    while True:
        run_id = make_run_id(config, tag, datetime.now(), existing=home.run_ids())
        try:
            home.run_dir(run_id).mkdir(mode=0o700)
        except FileExistsError:
            continue
        return run_id


def _write_prompt(paths: RunPaths, prompt: str | None) -> None:
    (paths.inputs / "prompt.txt").write_text(prompt or "")


async def _launch(
    engine: Engine, config: Config, record: RunRecord, paths: RunPaths, *, resume: bool
) -> str:
    """Create and start the run's container; returns its id."""
    spec = run_container_spec(
        config,
        record,
        paths,
        user=agent_ids(os.getuid(), os.getgid()),
        timezone=host_timezone(),
        claude_args=claude_arguments(config, headless=record.mode == "headless", resume=resume),
    )
    container_id = await engine.create_container(spec)
    try:
        await engine.start(container_id)
    except BaseException:
        with anyio.move_on_after(30, shield=True):
            await engine.remove(container_id, force=True)
        raise
    return container_id


async def start_session(
    engine: Engine,
    home: Home,
    config: Config,
    *,
    tag: str,
    prompt: str | None = None,
    headless: bool = False,
    build_progress: Callable[[BuildProgress], None] | None = None,
) -> RunRecord:
    """Build if needed, then make the run: clones, Claude state, container.

    Any failure rolls everything back: no half-made run is left behind.
    """
    validate_tag(tag)
    if headless and not prompt:
        raise UsageError("a headless session needs a prompt (--prompt or --prompt-file)")
    await check_repos(config, f"{config.name}.yml")
    credentials = _require_credentials()
    # Up to date at once when the image exists; built (with progress) when not.
    image = (await build_image(engine, config, progress=build_progress)).image

    run_id = _make_run_dir(home, config.name, tag)
    paths = RunPaths(home, run_id)
    container_id: str | None = None
    try:
        owner = _agent_owner()
        paths.worktrees.mkdir()
        branch = branch_name(run_id)
        async with anyio.create_task_group() as tg:
            for key, repo in config.repos.items():
                tg.start_soon(
                    partial(create_clone, Path(repo.path), paths.clone(key), branch, owner=owner)
                )
        await anyio.to_thread.run_sync(write_claude_state, config, paths, credentials, owner)
        _write_prompt(paths, prompt)
        record = RunRecord(
            run_id=run_id,
            config=config.name,
            tag=tag,
            mode="headless" if headless else "interactive",
            image=image,
            branch=branch,
            created=now_iso(),
            repos={key: repo.path for key, repo in config.repos.items()},
            prompt=prompt,
            auth=credentials.method,
        )
        save_run(home, record)
        append_event(paths, "created", detail=f"image {image}, branch {branch}")
        container_id = await _launch(engine, config, record, paths, resume=False)
        record.container_id = container_id
        save_run(home, record)
        append_event(paths, "started", detail=container_id[:12])
    except BaseException:
        with anyio.CancelScope(shield=True):
            if container_id is not None:
                await engine.remove(container_id, force=True)
            await anyio.to_thread.run_sync(shutil.rmtree, paths.root, True)
        raise
    return record


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
    paths = RunPaths(home, run_id)
    if record.cleaned:
        raise SessionError(
            f"run {run_id} was cleaned; start a new session with `scad session start {record.config} --tag ...`"
        )
    if record.mode == "headless" and not prompt:
        raise UsageError(
            f"{run_id} is headless: give the next prompt with --prompt or --prompt-file"
        )
    if record.container_id:
        state = await engine.inspect(record.container_id)
        if state is not None and state.running:
            raise SessionError(
                f"{run_id} is already running; attach with `scad session attach {run_id}`"
            )
        await catch_up(engine, home, record)
        if state is not None:
            await engine.remove(record.container_id, force=True)
    credentials = _require_credentials()
    if await engine.image(record.image) is None:
        record.image = (await build_image(engine, config)).image
    notes = await anyio.to_thread.run_sync(
        write_claude_state, config, paths, credentials, _agent_owner()
    )
    for note in notes:
        append_event(paths, "warning", detail=note)
    _write_prompt(paths, prompt)
    container_id = await _launch(engine, config, record, paths, resume=True)
    record.container_id = container_id
    record.auth = credentials.method
    if prompt:
        record.prompt = prompt
    save_run(home, record)
    append_event(paths, "resumed", detail=container_id[:12])
    return Resumed(record=record, notes=notes)
