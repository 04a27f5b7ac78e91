"""`scad logs`: many runs' logs merged by time, each line prefixed by its run id."""

from __future__ import annotations

import contextlib
import re
import sys
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncclick as click

from ..errors import EngineUnavailable, ScadError, UsageError
from ..home import Home
from ..runs.activity import activity_lines
from ..runs.envelopes import encode_envelope
from ..runs.records import RunRecord, find_run, list_runs
from ._app import Application, pass_app
from ._complete import config_names, run_ids
from ._json import Document, JsonCommand, JsonOutput, json_option

if TYPE_CHECKING:
    from ..engine import Engine
    from ..runs.merged import RunEnvelope

COLOURS = ("cyan", "yellow", "green", "magenta", "blue", "red")
_SINCE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime) -> str:
    """``10m``, ``2h``, ``1d`` ago, or an ISO time, as an event log timestamp."""
    if match := _SINCE.match(text):
        then = now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        try:
            then = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"--since {text}: give a duration (30s, 10m, 2h, 1d) or a time "
                "(2026-11-27T10:00:00Z)"
            ) from None
        if then.tzinfo is None:
            then = then.astimezone()
    return then.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _selected(
    home: Home, run_ids: tuple[str, ...], config: str | None, batch: str | None = None
) -> list[RunRecord]:
    if run_ids:
        return [find_run(home, run_id) for run_id in run_ids]
    return [
        r
        for r in list_runs(home)
        if (config is None or r.config == config) and (batch is None or r.batch_id == batch)
    ]


class LogPrinter:
    """Lines prefixed by their run id, in a colour of the run's own on a terminal."""

    def __init__(self, as_json: JsonOutput | None, tail: int | None = None) -> None:
        self.as_json = as_json
        self.colour = sys.stdout.isatty()
        self.width = 0
        self.colours: dict[str, str] = {}
        #: With a tail, lines are held (the last ``tail`` of them) until :meth:`flush`.
        self.held: deque[str | bytes] | None = deque(maxlen=tail) if tail is not None else None

    def __call__(self, items: list[RunEnvelope]) -> None:
        for item in items:
            if self.as_json:
                self._echo(
                    self.as_json.line({"run_id": item.run_id}, encode_envelope(item.envelope))
                )
                continue
            self.width = max(self.width, len(item.run_id))
            prefix = item.run_id.ljust(self.width) + " |"
            if self.colour:
                colour = self.colours.setdefault(
                    item.run_id, COLOURS[len(self.colours) % len(COLOURS)]
                )
                prefix = click.style(prefix, fg=colour)
            for line in activity_lines(item.envelope):
                self._echo(f"{prefix} {line}")

    def _echo(self, line: str | bytes) -> None:
        if self.held is not None:
            self.held.append(line)
        else:
            click.echo(line)

    def flush(self) -> None:
        """Print what was held, and print every later line at once."""
        held, self.held = self.held, None
        for line in held or ():
            click.echo(line)


#: What --json prints: one line of a run's log a line, with the run's id.
JSON = Document(
    ("scad.runs.envelopes:ClaudeLine", "scad.runs.envelopes:ScadEvent"), lines=("run_id",)
)


@click.command("logs", cls=JsonCommand)
@click.argument("run_id_args", metavar="[RUN_ID]...", nargs=-1, shell_complete=run_ids)
@click.option(
    "--config", "-c", "config", shell_complete=config_names, help="The runs of this config."
)
@click.option("--batch", "-b", "batch_id", help="The runs of this batch.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (and new runs).")
@click.option("--since", help="Only lines since then: 30s, 10m, 2h, 1d, or an ISO time.")
@click.option(
    "--tail",
    "-n",
    "tail",
    type=click.IntRange(min=0),
    help="Only the last N lines of what came before (then new ones with -f).",
)
@json_option(JSON, help="Print the lines as JSON lines, each with its run id (only FIELDS).")
@pass_app
async def logs(
    app: Application,
    run_id_args: tuple[str, ...],
    config: str | None,
    batch_id: str | None,
    follow: bool,
    since: str | None,
    tail: int | None,
    as_json: JsonOutput | None,
) -> None:
    """What the agents of several runs did, merged by time (all runs by default).

    With --follow and named runs it ends when they have all ended, with a batch
    when the batch has; otherwise it follows until interrupted, picking up runs
    that start meanwhile.
    """
    from ..batch.store import find_batch_id
    from ..runs.merged import catch_up_runs, follow_logs, follow_runs, merge_logs

    home = app.home
    if sum([bool(run_id_args), config is not None, batch_id is not None]) > 1:
        raise UsageError("name runs, or give --config or --batch (one of them)")
    batch_ended = None
    if batch_id is not None:
        batch_id = find_batch_id(home, batch_id)
        batch_ended = _batch_ended(home, batch_id)
    since_ts = parse_since(since, datetime.now(UTC)) if since else None
    records = _selected(home, run_id_args, config, batch_id)
    printer = LogPrinter(as_json, tail)
    async with contextlib.AsyncExitStack() as stack:
        try:
            engine: Engine | None = await stack.enter_async_context(app.open_engine())
        except EngineUnavailable as exc:
            click.echo(f"warning: {exc}; showing the logs as last read", err=True)
            engine = None
        if engine is not None:
            await catch_up_runs(engine, home, records, on_error=_warn)
        offsets = await merge_logs(home, [r.run_id for r in records], printer, since=since_ts)
        printer.flush()
        if not follow:
            return

        def select() -> list[RunRecord]:
            return _selected(home, run_id_args, config, batch_id)

        if engine is None:
            discover = None if run_id_args else lambda: [r.run_id for r in select()]
            await follow_logs(
                home, offsets, printer, discover=discover, until=batch_ended or (lambda: False)
            )
        else:
            await follow_runs(
                engine,
                home,
                offsets,
                printer,
                select=select,
                complete=(lambda: True) if run_id_args else batch_ended,
                on_error=_warn,
            )


def _batch_ended(home: Home, batch_id: str) -> Callable[[], bool]:
    """Whether the batch is over (nothing more comes); an unknown batch is named as such."""
    from ..batch.store import BatchPaths, batch_over

    paths = BatchPaths(home, batch_id)
    return lambda: batch_over(paths)


def _warn(record: RunRecord, exc: ScadError) -> None:
    """One run's trouble is said, and the others still show."""
    click.echo(f"warning: {record.run_id}: {exc}", err=True)
