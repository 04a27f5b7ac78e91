"""`scad batch CONFIG --tag T (--prompt-file F | --prompt P ...)`."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import asyncclick as click
import msgspec

from ...batch.prompts import BatchPrompt, parse_prompts
from ...batch.store import BatchOptions
from ...config.registry import load_registered
from ...errors import UsageError
from ...names import validate_tag
from .._app import Application, pass_app
from .._complete import config_names
from .._json import JsonCommand, JsonOutput, json_option
from .._placement import on_option, placed_config
from .._render import warn_uncommitted_work, warn_unwritable_mounts
from ..build import ProgressPrinter
from ._options import duration, notify_targets, supervise_here, time_allowed
from ._view import VIEW_JSON, show_batch

if TYPE_CHECKING:
    from ...config.schema import NotifySettings
    from ...config.swarm import Target
    from ...image.build import BuildProgress


def read_prompts(
    prompt_file: str | None, prompts: tuple[str, ...]
) -> tuple[list[BatchPrompt], str]:
    """The batch's prompts and where they came from; every bad line is named."""
    if bool(prompt_file) == bool(prompts):
        raise UsageError(
            "give the prompts with --prompt-file F (- for standard input) or --prompt P ..."
        )
    if prompts:
        if any(not p.strip() for p in prompts):
            raise UsageError("--prompt: a prompt is empty")
        return [BatchPrompt(prompt=p.strip()) for p in prompts], "--prompt"
    assert prompt_file is not None
    try:
        text = sys.stdin.read() if prompt_file == "-" else Path(prompt_file).read_text("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the prompt file {prompt_file}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{prompt_file}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    source = "standard input" if prompt_file == "-" else prompt_file
    return parse_prompts(text, source), source


class _ConfigContext(click.Context):
    """Names the command ``scad batch CONFIG`` in usage and errors: ``run`` is only
    how the group reaches it."""

    @property
    def command_path(self) -> str:
        return f"{self.parent.command_path if self.parent else 'batch'} CONFIG"


class _BatchCommand(JsonCommand):
    context_class = _ConfigContext

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [self.options_metavar or "[OPTIONS]"]  # CONFIG is in the command's path


@click.command("run", cls=_BatchCommand)
@click.argument("config_name", metavar="CONFIG", shell_complete=config_names)
@click.option(
    "--tag", "-t", required=True, help="A short name for the batch (part of each run id)."
)
@click.option(
    "--prompt-file",
    "-f",
    help="Prompts: plain text split by --- lines, or JSON Lines; - reads standard input.",
)
@click.option("--prompt", "-p", "prompts", multiple=True, help="A prompt (repeat for more).")
@click.option(
    "--parallel",
    "-j",
    type=click.IntRange(1, 200),
    default=4,
    show_default=True,
    help="How many run at once at most.",
)
@click.option(
    "--timeout",
    "time_limit",
    callback=time_allowed,
    metavar="DURATION",
    help="Stop a run that takes longer in all (90s, 20m, 2h).",
)
@click.option(
    "--idle-timeout",
    callback=time_allowed,
    metavar="DURATION",
    help="Stop a run that prints nothing for this long (it ends hung).",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 20),
    default=0,
    show_default=True,
    help="Further attempts for runs that were rate-limited, hung or crashed.",
)
@click.option(
    "--fix-attempts",
    type=click.IntRange(0, 20),
    default=0,
    show_default=True,
    help="Further attempts for runs whose checks failed, each told what failed.",
)
@click.option(
    "--backoff",
    callback=duration,
    metavar="DURATION",
    default="10s",
    show_default=True,
    help="Wait before the first retry (doubling, with jitter).",
)
@click.option(
    "--budget-usd",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop starting and stop running runs once the batch has cost this much; the gateway refuses their next model call past it.",
)
@click.option(
    "--max-usd-per-run",
    type=click.FloatRange(min=0, min_open=True),
    help="The gateway refuses a run's next model call once it has cost this much.",
)
@click.option(
    "--stagger",
    callback=duration,
    metavar="DURATION",
    default="50ms",
    show_default=True,
    help="Least time between two starts, once --burst have started at once.",
)
@click.option(
    "--burst",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Starts that may go at once before --stagger spaces them out.",
)
@click.option("--fetch", is_flag=True, help="Bring each run's branches home once it succeeds.")
@click.option(
    "--notify",
    multiple=True,
    callback=notify_targets,
    metavar="URL|COMMAND",
    help="Tell this URL (http:// or https://) or command, in place of the config's notify:, "
    "when a run needs attention and when the batch ends (repeat for both).",
)
@on_option
@click.option(
    "--foreground",
    is_flag=True,
    help="Supervise in this process: the exit code is the outcome, Ctrl-C stops the runs.",
)
@json_option(VIEW_JSON, help="Print the summary as JSON (only FIELDS).")
@pass_app
async def command(
    app: Application,
    config_name: str,
    tag: str,
    prompt_file: str | None,
    prompts: tuple[str, ...],
    parallel: int,
    time_limit: float | None,
    idle_timeout: float | None,
    retries: int,
    fix_attempts: int,
    backoff: float,
    budget_usd: float | None,
    max_usd_per_run: float | None,
    stagger: float,
    burst: int,
    fetch: bool,
    notify: NotifySettings | None,
    on: Target | None,
    foreground: bool,
    as_json: JsonOutput | None,
) -> None:
    """Run each prompt as a headless session of CONFIG, many at once, and show them live.

    Exits 0 only if every run succeeded. When CONFIG has checks, a run succeeds
    only if its checks pass on what it committed. With --fetch, each run's branches
    come home as it succeeds, as `scad code fetch` brings them.
    """  # fmt: skip
    from ...batch.standby import supervisor_standby

    home = app.home
    validate_tag(tag)
    # A background supervisor starts first, and imports while the batch is checked and made.
    async with nullcontext() if foreground else supervisor_standby(home) as standby:
        from ...batch.process import check_runs_on, create_batch, spawn_supervisor

        config = placed_config(load_registered(home, config_name), on)
        check_runs_on(config)
        batch_prompts, source = read_prompts(prompt_file, prompts)
        warn_unwritable_mounts(config)
        options = BatchOptions(
            parallel=parallel, timeout=time_limit, idle_timeout=idle_timeout, retries=retries,
            backoff=backoff, budget_usd=budget_usd, max_usd_per_run=max_usd_per_run,
            stagger=stagger, burst=burst, fetch=fetch, fix_attempts=fix_attempts, runs_on=config.runs_on,
            notify=notify and msgspec.structs.replace(
                config.notify, command=notify.command, url=notify.url
            ),
        )  # fmt: skip
        printer = ProgressPrinter(verbose=False, live=sys.stdout.isatty() and not as_json)

        def on_build(event: BuildProgress) -> None:
            if not as_json:
                printer(event)

        await warn_uncommitted_work(config)
        # A built image is looked up on the socket: the command never imports the
        # engine's client unless it builds.
        async with app.open_socket_engine() as engine:
            manifest = await create_batch(
                engine, home, config, batch_prompts, tag=tag, source=source, options=options,
                build_progress=on_build,
            )  # fmt: skip
        printer.close()
        batch_id = manifest.batch_id
        if not as_json:
            click.echo(f"batch {batch_id}: {len(manifest.items)} prompts, {parallel} at once")
        if standby is not None:
            pid = await spawn_supervisor(home, batch_id, standby)
            if not as_json:
                click.echo(f"supervised in the background (pid {pid}); Ctrl-C leaves it running")
    if standby is None:
        view = await supervise_here(app, config, batch_id, as_json=as_json)
    else:
        view = await show_batch(home, batch_id, as_json=as_json, detachable=True)
    if not view.succeeded:
        raise click.exceptions.Exit(1)
