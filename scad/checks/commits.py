"""Judging commits: each of a config's checks, one after another, in a fresh
checkout of the commits and a fresh container of the config's image."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from ..config.schema import Check, Config
from ..engine import Engine
from ..home import Home
from ..runs.envelopes import Checked
from .checkout import CheckoutRefused, write_checkout
from .container import CheckRun, check_spec, run_in_container
from .folder import CheckFolder
from .report import CheckReport, CheckSource

__all__ = ["check_commits", "judge"]

#: Told of each check as soon as it is judged.
OnChecked = Callable[[Checked], Awaitable[None]]


async def check_commits(
    engine: Engine,
    home: Home,
    config: Config,
    sources: list[CheckSource],
    *,
    image: str,
    time_limit: float | None = None,
) -> CheckReport:
    """Run each of ``config``'s checks on ``sources`` (one checkout per repo, where a
    run sees it; the workdir repo is the working directory), in containers of
    ``image``. ``time_limit`` bounds all of them together (seconds). A check that
    cannot run is reported as such; raises EngineUnavailable when the engine is away."""
    return await judge(engine, home, config, sources, image=image, time_limit=time_limit)


async def judge(
    engine: Engine,
    home: Home,
    config: Config,
    sources: list[CheckSource],
    *,
    image: str,
    time_limit: float | None,
    on_checked: OnChecked | None = None,
) -> CheckReport:
    """:func:`check_commits`, telling ``on_checked`` of each check as it ends."""
    deadline = None if time_limit is None else time.monotonic() + time_limit
    checks = []
    for check in config.checks:
        left = (
            check.timeout if deadline is None else min(check.timeout, deadline - time.monotonic())
        )
        checked = await _check_one(engine, home, config, sources, check, image=image, seconds=left)
        if on_checked is not None:
            await on_checked(checked)
        checks.append(checked)
    return CheckReport(checks=checks)


async def _check_one(
    engine: Engine,
    home: Home,
    config: Config,
    sources: list[CheckSource],
    check: Check,
    *,
    image: str,
    seconds: float,
) -> Checked:
    commits = {source.repo: source.commit for source in sources}
    if seconds <= 0:
        return Checked(
            name=check.name,
            stop="timed-out",
            output="scad: no time was left to run it",
            commits=commits,
        )
    held = await anyio.to_thread.run_sync(CheckFolder)
    folder = held.path
    try:
        pinned: list[str] = []
        checkouts: dict[str, str] = {}
        try:
            for source in sources:
                dest = folder / source.repo
                pins = check.pin if source.repo == config.workdir_key else []
                changed = await write_checkout(
                    Path(source.git_dir), source.commit, source.base, pins, dest
                )
                checkouts[source.repo] = str(dest)
                pinned += changed
        except CheckoutRefused as exc:
            return Checked(name=check.name, output=f"scad: {exc}", pinned=pinned, commits=commits)
        spec = check_spec(
            home, config, image, name=check.name, run=check.run, checkouts=checkouts,
            folder=str(folder),
        )  # fmt: skip
        ran: CheckRun = await run_in_container(engine, spec, seconds=seconds)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(held.close)
    return Checked(
        name=check.name,
        exit_code=ran.exit_code,
        duration_ms=ran.duration_ms,
        output=ran.output,
        stop="timed-out" if ran.timed_out else None,
        pinned=pinned,
        commits=commits,
    )
