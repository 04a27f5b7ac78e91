"""What the batch commands share: durations, and supervising in this process."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import anyio
import asyncclick as click

from ...errors import UsageError
from ...taskgroups import open_task_group
from ._view import show_batch

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from ...batch.view import BatchView
    from ...config.schema import Config, NotifySettings
    from .._app import Application
    from .._json import JsonOutput

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """``90``, ``90s``, ``20m``, ``2h`` as seconds; one line when it is none."""
    if value is None:
        return None
    match = _DURATION.match(value.strip())
    if not match:
        raise UsageError(f'{_option(param)}: "{value}" is not a duration; {_EXAMPLES}')
    return float(match[1]) * _SECONDS[match[2]]


def time_allowed(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A :func:`duration` that gives a run some time: zero is refused (every run
    would be stopped as it starts)."""
    seconds = duration(ctx, param, value)
    if seconds == 0:
        raise UsageError(f'{_option(param)}: "{value}" is no time; {_EXAMPLES}')
    return seconds


_EXAMPLES = "use 30s, 10m, 2h"


def _option(param: click.Parameter) -> str:
    """How the user spells the option: its longest name."""
    return max(param.opts, key=len)


async def supervise_here(
    app: Application, config: Config, batch_id: str, *, as_json: JsonOutput | None
) -> BatchView:
    """Supervise the batch in this process while showing it; Ctrl-C stops its runs."""
    from ...batch.process import open_batch_engine
    from ...batch.run import run_batch
    from ...batch.store import load_manifest

    home = app.home
    views: list[BatchView] = []
    manifest = load_manifest(home, batch_id)
    opened = open_batch_engine(manifest, app.open_engine, app.open_socket_engine)
    ended = anyio.Event()

    async def show() -> None:
        views.append(
            await show_batch(home, batch_id, as_json=as_json, detachable=False, ended=ended)
        )

    async def supervise(*, task_status: TaskStatus[None]) -> None:
        try:
            await run_batch(engine, home, config, batch_id, task_status=task_status)
        finally:
            ended.set()  # the view shows the end at once

    async with (
        opened as engine,
        open_task_group() as tg,
    ):
        # Shown once this process holds the batch: before, it would look unsupervised.
        await tg.start(supervise)
        tg.start_soon(show)
    return views[0]


def notify_targets(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> NotifySettings | None:
    """``--notify`` (at most one URL and one command): a value that begins ``http://``
    or ``https://`` is a URL, anything else a command; one line when it is neither."""
    from ...config.notifying import command_problem, is_url, url_problem
    from ...config.schema import NotifySettings

    if not values:
        return None
    urls = [v.strip() for v in values if is_url(v)]
    commands = [v for v in values if not is_url(v)]
    if len(urls) > 1 or len(commands) > 1:
        raise UsageError(f"{_option(param)}: give at most one URL and one command")
    for url in urls:
        if problem := url_problem(url):
            raise UsageError(f"{_option(param)}: {problem}")
    for command in commands:
        if problem := command_problem(command):
            raise UsageError(f"{_option(param)}: the command {problem}")
    return NotifySettings(url=next(iter(urls), None), command=next(iter(commands), None))
