from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import asyncclick as click
from anyio.abc import TaskStatus

from ...config.registry import load_registered
from ...errors import UsageError
from ...image.build import BuildProgress
from ...runs.activity import activity_lines
from ...taskgroups import open_task_group
from ...text import printable
from .._app import Application, pass_app
from .._complete import config_names
from .._json import Document, JsonCommand, JsonOutput, json_option
from .._placement import on_option, placed_config
from .._render import warn_uncommitted_work, warn_unwritable_mounts
from ..build import ProgressPrinter
from ._common import prompt_options, read_prompt

if TYPE_CHECKING:
    from ...config.schema import Config
    from ...config.swarm import Target
    from ...runs.envelopes import Envelope
    from ...runs.records import RunRecord
    from ...runs.supervisor import Outcome


#: What --json prints.
JSON = Document(("scad.runs.records:RunRecord", "scad.runs.outcomes:Outcome"))


@click.command("start", cls=JsonCommand)
@click.argument("config_name", metavar="CONFIG", shell_complete=config_names)
@click.option(
    "--tag", "-t", required=True, help="A short name for this session (part of its run id)."
)
@prompt_options
@click.option(
    "--headless", is_flag=True, help="Run `claude -p` as the container's job instead of tmux."
)
@click.option(
    "--no-attach",
    is_flag=True,
    help="Do not open an interactive session's terminal (it opens on a terminal).",
)
@click.option(
    "--wait",
    is_flag=True,
    help="With --headless: watch the run to its end, then exit 0 only if it succeeded.",
)
@click.option(
    "--max-usd-per-run",
    type=click.FloatRange(min=0, min_open=True),
    help="The gateway refuses the run's next model call once it has cost this much (kept on resume).",
)
@on_option
@json_option(JSON, help="Print the run record (or outcome) as JSON.")
@pass_app
async def command(
    app: Application,
    config_name: str,
    tag: str,
    prompt: str | None,
    prompt_file: Path | None,
    headless: bool,
    no_attach: bool,
    wait: bool,
    max_usd_per_run: float | None,
    on: Target | None,
    as_json: JsonOutput | None,
) -> None:
    """Start a session of CONFIG: its own container, clones and branch."""
    from ...sessions import attach_command, detach_keys, start_session

    home = app.home
    config = placed_config(load_registered(home, config_name), on)
    text = read_prompt(prompt, prompt_file)
    if wait and not headless:
        raise UsageError("--wait watches a headless run: add --headless")
    if config.runs_on == "swarm" and not headless:
        raise UsageError(
            "a session on a swarm runs headless (no terminal reaches a node): add --headless"
        )
    warn_unwritable_mounts(config)
    await warn_uncommitted_work(config)
    printer = ProgressPrinter(verbose=False, live=sys.stdout.isatty())

    announced = False

    def on_build(event: BuildProgress) -> None:
        nonlocal announced
        if as_json:
            return
        if not announced:
            click.echo(f"the image of {config.name} is not built yet; building it first")
            announced = True
        printer(event)

    if wait:
        await _start_and_wait(
            app, config, text, tag=tag, max_usd_per_run=max_usd_per_run, as_json=as_json,
            on_build=on_build,
        )  # fmt: skip
        return
    attach = not (headless or no_attach or as_json) and sys.stdin.isatty() and sys.stdout.isatty()
    async with app.open_engine() as engine:
        record = await start_session(
            engine, home, config, tag=tag, prompt=text, headless=headless,
            build_progress=on_build, max_usd_per_run=max_usd_per_run,
        )  # fmt: skip
        argv = await attach_command(engine, record) if attach else None
    printer.close()
    if as_json:
        as_json.echo(record)
        return
    click.echo(f"started {record.run_id} ({record.mode}) on branch {record.branch}")
    if record.mode == "headless":
        click.echo(f"follow it: scad session logs {record.run_id} -f")
        return
    detach = await detach_keys(os.environ)
    if argv:
        click.echo(f"attaching (detach: {detach})")
        os.execv(argv[0], argv)
    click.echo(f"attach to it: scad session attach {record.run_id}   (detach: {detach})")


async def _start_and_wait(
    app: Application,
    config: Config,
    prompt: str | None,
    *,
    tag: str,
    max_usd_per_run: float | None,
    as_json: JsonOutput | None,
    on_build: Callable[[BuildProgress], None],
) -> None:
    """Supervise a headless run in the foreground, showing what it does; the exit
    code is its outcome (Ctrl-C stops it)."""
    from ...runs import tail_events
    from ...runs.records import RunPaths
    from ...sessions import run_session

    home = app.home
    outcomes: list[Outcome] = []
    done = anyio.Event()

    def show(envelopes: list[Envelope], live: bool) -> None:
        for envelope in envelopes:
            for line in activity_lines(envelope):
                click.echo(line)

    async with app.open_engine() as engine, open_task_group() as tg:

        async def run(*, task_status: TaskStatus[RunRecord]) -> None:
            try:
                outcomes.append(
                    await run_session(
                        engine, home, config, tag=tag, prompt=prompt,
                        build_progress=on_build, max_usd_per_run=max_usd_per_run,
                        task_status=task_status,
                    )
                )  # fmt: skip
            finally:
                done.set()

        record = await tg.start(run)
        if not as_json:
            click.echo(f"started {record.run_id} (headless) on branch {record.branch}")
            tg.start_soon(tail_events, RunPaths(home, record.run_id), show, done)
    (outcome,) = outcomes
    if as_json:
        as_json.echo(outcome)
    else:
        ended = f"{outcome.run_id}: {outcome.outcome}"
        if outcome.exit_code is not None:
            ended += f" (exit {outcome.exit_code})"
        click.echo(f"{ended}, {outcome.turns} turns, ${outcome.cost_usd:.4f}")
        if outcome.outcome != "succeeded" and (outcome.detail or outcome.result):
            click.echo(f"  {printable(outcome.detail or outcome.result or '')}")
    if outcome.outcome != "succeeded":
        raise click.exceptions.Exit(1)
