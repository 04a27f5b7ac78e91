"""`scad project ...`: a config's runs side by side."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import asyncclick as click

from ..names import short_run_id
from ..text import display_width
from ._app import Application, pass_app
from ._complete import config_names
from ._engine import STATES_UNKNOWN, with_engine_if_up
from ._groups import HelpGroup
from ._json import Document, JsonCommand, JsonOutput, json_option
from ._progress import ProgressLine
from ._render import Column, output_option, table_lines, terminal_width
from ._watch import watch as follow
from ._watch import watch_option

if TYPE_CHECKING:
    from ..reports.project import ProjectStatus, RunFigures

__all__ = ["project", "status_table"]

#: At 80 columns: the run, how it ended, what it took and what it left; ``-o wide``
#: adds the tokens, the duration and the branch.
HEADERS = (
    Column("RUN ID"),
    Column("STATE"),
    Column("OUTCOME"),
    Column("TURNS"),
    Column("IN", wide=True),
    Column("OUT", wide=True),
    Column("CACHE", wide=True),
    Column("COST"),
    Column("DURATION", wide=True),
    Column("BRANCH", wide=True),
    Column("AHEAD"),
)
CCUSAGE = (Column("CCUSAGE $"), Column("CCUSAGE TOKENS", wide=True))
#: What the model gateway measured, beside what Claude reported.
GATEWAY = (Column("GATEWAY $", wide=True), Column("GATEWAY TOKENS", wide=True))


@click.group(cls=HelpGroup)
def project() -> None:
    """Look at a config's runs together."""


#: What --json prints.
JSON = Document(("scad.reports.project:ProjectStatus",), items="rows")


@project.command("status", cls=JsonCommand)
@click.argument("config", shell_complete=config_names)
@click.option(
    "--cost", is_flag=True, help="Also each run's cost and tokens as ccusage counts them."
)
@click.option(
    "--hide-cleaned",
    is_flag=True,
    help="Leave out runs that were cleaned or collected by gc (counted by default).",
)
@json_option(JSON)
@output_option
@watch_option
@pass_app
async def status(
    app: Application,
    config: str,
    cost: bool,
    hide_cleaned: bool,
    as_json: JsonOutput | None,
    output: str | None,
    watch: bool,
) -> None:
    """The runs of CONFIG side by side, with totals.

    Each run's state, outcome, turns, tokens (cache: read and written), cost,
    duration as Claude reported it, and the commits its clones hold beyond the
    host repo's default branch. With --cost, ccusage's figures from Claude's
    transcripts stand beside scad's (ccusage on the PATH, else through npx).
    Runs that gc collected keep their figures (state "collected"). On a terminal
    too narrow for whole ids, each run shows as the beginning that names it.
    """
    from ..reports.project import config_runs, project_status

    home = app.home
    wide = output == "wide"
    # An unknown name fails before the engine is asked; the first look takes these runs.
    listed = [config_runs(home, config)]

    async def look() -> ProjectStatus:
        runs = listed.pop() if listed else config_runs(home, config)
        # Progress only for a single look: a watch redraws the whole screen instead.
        with ProgressLine(quiet=as_json is not None or watch) as progress:
            return await with_engine_if_up(
                lambda engine: project_status(
                    engine, home, config, runs=runs, cost=cost,
                    cleaned=not hide_cleaned, progress=progress,
                ),
                app.open_socket_engine,
                lacking=STATES_UNKNOWN,
            )  # fmt: skip

    if watch:

        async def screen() -> str:
            result = await look()
            if as_json:
                return as_json.text(result)
            return status_table(result, cost=cost, wide=wide, known=home.run_ids())

        await follow(screen)
        return
    result = await look()
    if as_json:
        as_json.echo(result)
        return
    click.echo(status_table(result, cost=cost, wide=wide, known=home.run_ids()))
    if result.cost_problem:
        click.echo(f"warning: no ccusage figures: {result.cost_problem}", err=True)
    for r in result.rows:
        if r.problem:
            click.echo(f"warning: {r.run_id}: commits ahead unknown: {r.problem}", err=True)


def status_table(
    result: ProjectStatus,
    *,
    cost: bool,
    wide: bool = False,
    width: int | None = None,
    known: Collection[str] = (),
) -> str:
    """The rows, a total row, and the count of runs by outcome.

    When the table is wider than ``width`` (else the terminal), each run id is as
    short as names it alone among the rows and ``known`` (any unique beginning
    names a run), and a state has no exit code (the outcome says how it ended).
    """
    measured = any(r.gateway is not None for r in result.rows)
    columns = HEADERS + (CCUSAGE if cost else ()) + (GATEWAY if measured else ())
    ids = {*known, *(r.run_id for r in result.rows)}

    def lines(compact: bool) -> list[str]:
        rows = [
            (
                short_run_id(r.run_id, ids) if compact else r.run_id,
                r.state if compact or r.exit_code is None else f"{r.state} ({r.exit_code})",
                r.outcome or "-",
                *_figures(r),
                r.branch,
                "?" if r.problem else ("-" if r.ahead is None else r.ahead),
                *(_ccusage(r) if cost else ()),
                *(_gateway(r) if measured else ()),
            )
            for r in result.rows
        ]
        t = result.totals
        total = ("TOTAL", "", "", *_figures(t), "", t.ahead)
        rows.append((*total, *(_ccusage(t) if cost else ()), *(_gateway(t) if measured else ())))
        return table_lines(columns, rows, wide=wide, width=width)

    shown = lines(compact=False)
    limit = width if width is not None else (None if wide else terminal_width())
    if limit is not None and max(display_width(line) for line in shown) > limit:
        shown = lines(compact=True)
    t = result.totals
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(t.outcomes.items()))
    return "\n".join(
        [*shown, f"{t.runs} run{'' if t.runs == 1 else 's'}" + (f": {counts}" if counts else "")]
    )


def _figures(f: RunFigures) -> tuple[object, ...]:
    """Turns, tokens in, out and cache, cost and duration: a row's or the totals'."""
    return (
        f.turns,
        f.input_tokens,
        f.output_tokens,
        f.cache_read_tokens + f.cache_creation_tokens,
        _cost(f.cost_usd, f.cost_estimated),
        _duration(f.duration_ms),
    )


def _ccusage(f: RunFigures) -> tuple[object, ...]:
    return _cost(f.ccusage_cost_usd, False), _count(f.ccusage_tokens)


def _gateway(f: RunFigures) -> tuple[object, ...]:
    usage = f.gateway
    if usage is None:
        return "-", "-"
    tokens = usage.input_tokens + usage.output_tokens
    return _cost(
        usage.cost_usd, False
    ), tokens + usage.cache_read_tokens + usage.cache_creation_tokens


def _cost(usd: float | None, estimated: bool) -> str:
    return "-" if usd is None else f"{'~' if estimated else ''}${usd:.4f}"


def _count(n: int | None) -> object:
    return "-" if n is None else n


def _duration(ms: int) -> str:
    seconds = ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
