"""Showing a batch: a live table on a terminal, merged log lines when piped, a
summary table (or JSON) at the end. Views only read the batch's logs."""

from __future__ import annotations

import signal
import sys
from collections.abc import Collection, Sequence

import anyio
import asyncclick as click

from ...batch.state import batch_state
from ...batch.store import BatchPaths, batch_over, load_manifest, read_batch_events
from ...batch.view import BatchRow, BatchView, BatchWatcher
from ...home import Home
from ...interrupts import open_signal_receiver
from ...taskgroups import open_task_group
from ...text import clip, node_name, printable
from .._json import Document, JsonOutput
from .._render import Column, table, table_cells, terminal_width

#: A detail is its first line, at most this long even when nothing cuts it to fit.
MAX_DETAIL = 200

#: How often the live table is redrawn.
REDRAW_SECONDS = 0.5
#: How often a view that draws nothing until the end (--json) looks whether it came.
LOOK_SECONDS = 0.1


#: What --json prints at the end of a batch.
VIEW_JSON = Document(("scad.batch.view:BatchView",), items="rows")


async def show_batch(
    home: Home,
    batch_id: str,
    *,
    as_json: JsonOutput | None,
    detachable: bool,
    wide: bool = False,
    ended: anyio.Event | None = None,
) -> BatchView:
    """Show the batch until it ends (or, when ``detachable``, until Ctrl-C, which
    leaves it running and says how to come back); then the summary. ``ended``: set
    when a supervisor in this process is done with the batch (the view looks again
    at once, instead of after its pause)."""
    watcher = BatchWatcher(home, batch_id)
    interrupted = False
    with anyio.CancelScope() as scope:
        async with open_task_group() as tg:
            if detachable:

                async def on_interrupt() -> None:
                    nonlocal interrupted
                    with open_signal_receiver(signal.SIGINT) as received:
                        async for _ in received:
                            interrupted = True
                            scope.cancel()

                tg.start_soon(on_interrupt)
            if as_json:
                await _wait(watcher, ended)
            elif sys.stdout.isatty():
                await _live_table(watcher, wide=wide, known=home.run_ids(), ended=ended)
            else:
                await _log_lines(home, batch_id)
            tg.cancel_scope.cancel()
    if interrupted:
        click.echo(
            f"\nthe batch goes on in the background.\n"
            f"  watch it:   scad batch watch {batch_id}\n"
            f"  its logs:   scad logs -f --batch {batch_id}\n"
            f"  stop it:    scad batch stop {batch_id}",
            err=True,
        )
        raise click.exceptions.Exit(130)
    view = await watcher.look()
    if as_json:
        as_json.echo(view)
    else:
        click.echo(summary(view, wide=wide, known=home.run_ids()))
    return view


async def _wait(watcher: BatchWatcher, ended: anyio.Event | None) -> None:
    while True:
        if (await watcher.look()).done:
            return
        await _pause(LOOK_SECONDS, ended)


async def _pause(seconds: float, ended: anyio.Event | None) -> None:
    """Until the view's next look: ``seconds``, or until ``ended`` is set."""
    with anyio.move_on_after(seconds):
        await (ended.wait() if ended is not None else anyio.sleep_forever())


async def _live_table(
    watcher: BatchWatcher, *, wide: bool, known: Collection[str], ended: anyio.Event | None
) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    view = await watcher.look()
    noted = 0
    with Live(
        live_screen(view, console.width, wide=wide, known=known),
        console=console,
        refresh_per_second=4,
    ) as live:
        while True:
            for note in view.notes[noted:]:
                live.console.print(_note(note), highlight=False)
            noted = len(view.notes)
            live.update(live_screen(view, console.width, wide=wide, known=known))
            if view.done:
                return
            await _pause(REDRAW_SECONDS, ended)
            view = await watcher.look()


def _note(note: str):  # type: ignore[no-untyped-def]
    """A batch note for the live view. A note can quote an agent (a fetch problem
    names its branches): text, never markup."""
    from rich.text import Text

    return Text(printable(note), style="yellow")


#: The live table at 80 columns: the run, where it stands, what it is doing and
#: has spent; ``-o wide`` adds its tokens. Only the last tool's text (and the
#: node's name, see :func:`_with_nodes`) is cut.
_LIVE = (
    Column("#"),
    Column("RUN", run_ids=True),
    Column("STATE"),
    Column("TURNS"),
    Column("TOKENS IN/OUT", wide=True),
    Column("COST"),
    Column("ELAPSED"),
    Column("LAST TOOL", cut=True),
)


def live_screen(  # type: ignore[no-untyped-def]
    view: BatchView, width: int, *, wide: bool = False, known: Collection[str] = ()
):
    """The live view: a title, a row per prompt (its state coloured) and the totals,
    every line within ``width`` columns unless ``wide`` (run ids shortened among
    ``known`` when cutting text is not enough)."""
    from rich.text import Text

    rows = [
        (
            row.item,
            row.run_id or row.tag,
            _state(row),
            row.turns,
            f"{row.input_tokens}/{row.output_tokens}",
            _cost(row),
            _duration(row.duration_ms),
            row.last_tool or "",
        )
        for row in view.rows
    ]
    columns, cells = _with_nodes(view, _LIVE, rows)
    header, *lines = table_cells(
        columns, cells, wide=wide, width=None if wide else width, known=known
    )
    screen = Text(f"batch {view.batch_id}\n", style="bold")
    screen.append("  ".join(header).rstrip() + "\n", style="bold")
    for row, cells in zip(view.rows, lines, strict=True):
        screen.append("  ".join(cells[:2]) + "  ")
        screen.append(cells[2], style=_STYLES.get(row.outcome, ""))
        screen.append(("  " + "  ".join(cells[3:])).rstrip() + "\n")
    screen.append(_totals_line(view, None if wide else width), style="dim")
    return screen


_STYLES = {
    "succeeded": "green",
    "checks-failed": "red",
    "running": "cyan",
    "retrying": "yellow",
    "queued": "dim",
}


#: Where each item's latest attempt is: shown, before the last column, when one is
#: on a swarm node; free text, cut to fit.
_NODE = Column("NODE", cut=True)


def _with_nodes(
    view: BatchView, columns: tuple[Column, ...], rows: Sequence[Sequence[object]]
) -> tuple[tuple[Column, ...], Sequence[Sequence[object]]]:
    """The table's columns and rows, with the NODE column when an item is on a node
    (a batch on the local engine is shown as it always was)."""
    if not any(row.node for row in view.rows):
        return columns, rows
    nodes = [node_name(row.node) if row.node else "-" for row in view.rows]
    return (*columns[:-1], _NODE, columns[-1]), [
        (*cells[:-1], node, cells[-1]) for cells, node in zip(rows, nodes, strict=True)
    ]


def _state(row: BatchRow) -> str:
    return f"{row.outcome} (try {row.attempts + 1})" if row.outcome == "retrying" else row.outcome


def _cost(row: BatchRow) -> str:
    return f"{'~' if row.cost_estimated else ''}${row.cost_usd:.4f}"


def _duration(ms: int | None) -> str:
    if ms is None:
        return ""
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _totals_line(view: BatchView, width: int | None = None) -> str:
    """The batch's totals on one line, or one part a line when that is wider than ``width``."""
    totals = view.totals
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(totals.outcomes.items()))
    limit = f"at once {view.limit}/{view.parallel}" if view.limit else f"at once {view.parallel}"
    budget = f" of ${view.budget_usd:.2f}" if view.budget_usd is not None else ""
    parts = [
        f"{totals.prompts} prompts: {counts}",
        limit,
        f"{totals.turns} turns, {totals.input_tokens}/{totals.output_tokens} tokens, "
        f"${totals.cost_usd:.4f}{budget}",
        f"supervisor {view.supervisor}",
    ]
    line = " | ".join(parts)
    return "\n".join(parts) if width is not None and len(line) > width else line


async def _log_lines(home: Home, batch_id: str) -> None:
    """Merged log lines of the batch's runs, prefixed by run id, until it ends."""
    from ...runs.merged import follow_logs
    from ..logs import LogPrinter

    paths = BatchPaths(home, batch_id)
    manifest = load_manifest(home, batch_id)

    noted = 0

    def run_ids() -> list[str]:
        nonlocal noted
        state = batch_state(manifest, read_batch_events(paths))
        for note in state.notes[noted:]:  # the batch's own news, between the agents' lines
            click.echo(f"[batch] {printable(note)}")
        noted = len(state.notes)
        return state.run_ids

    await follow_logs(
        home, {}, LogPrinter(as_json=None), discover=run_ids, until=lambda: batch_over(paths)
    )


#: The summary at 80 columns; ``-o wide`` adds the tokens. Only the detail is cut.
_SUMMARY = (
    Column("#"),
    Column("RUN", run_ids=True),
    Column("OUTCOME"),
    Column("TRIES"),
    Column("TURNS"),
    Column("TOKENS IN/OUT", wide=True),
    Column("COST"),
    Column("ELAPSED"),
    Column("DETAIL", cut=True),
)


def summary(
    view: BatchView, *, wide: bool = False, width: int | None = None, known: Collection[str] = ()
) -> str:
    """The table people compare at the end, and what to do next (run ids shortened
    among ``known`` when cutting text is not enough to fit)."""
    rows = [
        (
            row.item,
            row.run_id or row.tag,
            row.outcome,
            row.attempts,
            row.turns,
            f"{row.input_tokens}/{row.output_tokens}",
            _cost(row),
            _duration(row.duration_ms),
            clip(row.detail.splitlines()[0], MAX_DETAIL) if row.detail else "",
        )
        for row in view.rows
    ]
    if width is None and not wide:
        width = terminal_width()
    columns, cells = _with_nodes(view, _SUMMARY, rows)
    lines = [table(columns, cells, wide=wide, width=width, known=known), _totals_line(view, width)]
    lines += [printable(note) for note in view.notes]
    if view.supervisor == "dead":
        lines.append(
            f"the batch's supervisor is not running; pick it up with:\n"
            f"  scad batch resume {view.batch_id}"
        )
    elif view.supervisor == "ended" and not view.succeeded and not view.budget_spent:
        lines.append(
            f"run the ones that did not succeed again:\n  scad batch retry {view.batch_id}"
        )
    return "\n".join(lines)
