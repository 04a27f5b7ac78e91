"""Showing a batch: a live table on a terminal, merged log lines when piped, a
summary table (or JSON) at the end. Views only read the batch's logs."""

from __future__ import annotations

import signal
import sys

import anyio
import asyncclick as click

from ...batch.store import BatchPaths, batch_over, batch_state, load_manifest, read_batch_events
from ...batch.view import BatchRow, BatchView, BatchWatcher
from ...home import Home
from ...taskgroups import open_task_group
from ...text import printable
from .._render import echo_json, table

#: How often the live table is redrawn.
REDRAW_SECONDS = 0.5


async def show_batch(home: Home, batch_id: str, *, as_json: bool, detachable: bool) -> BatchView:
    """Show the batch until it ends (or, when ``detachable``, until Ctrl-C, which
    leaves it running and says how to come back); then the summary."""
    watcher = BatchWatcher(home, batch_id)
    interrupted = False
    with anyio.CancelScope() as scope:
        async with open_task_group() as tg:
            if detachable:

                async def on_interrupt() -> None:
                    nonlocal interrupted
                    with anyio.open_signal_receiver(signal.SIGINT) as received:
                        async for _ in received:
                            interrupted = True
                            scope.cancel()

                tg.start_soon(on_interrupt)
            if as_json:
                await _wait(watcher)
            elif sys.stdout.isatty():
                await _live_table(watcher)
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
        echo_json(view)
    else:
        click.echo(summary(view))
    return view


async def _wait(watcher: BatchWatcher) -> None:
    while True:
        if (await watcher.look()).done:
            return
        await anyio.sleep(REDRAW_SECONDS)


async def _live_table(watcher: BatchWatcher) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    view = await watcher.look()
    noted = 0
    with Live(_rich_table(view), console=console, refresh_per_second=4) as live:
        while True:
            for note in view.notes[noted:]:
                live.console.print(_note(note), highlight=False)
            noted = len(view.notes)
            live.update(_rich_table(view))
            if view.done:
                return
            await anyio.sleep(REDRAW_SECONDS)
            view = await watcher.look()


def _note(note: str):  # type: ignore[no-untyped-def]
    """A batch note for the live view. A note can quote an agent (a fetch problem
    names its branches): text, never markup."""
    from rich.text import Text

    return Text(printable(note), style="yellow")


def _rich_table(view: BatchView):  # type: ignore[no-untyped-def]
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=f"batch {view.batch_id}", caption=_totals_line(view), expand=False)
    for header in ("#", "run", "state", "turns", "last tool", "tokens in/out", "cost", "elapsed"):
        grid.add_column(header, no_wrap=True, overflow="ellipsis", max_width=48)
    for row in view.rows:
        grid.add_row(
            str(row.item),
            Text(row.run_id or row.tag),
            Text(_state(row), style=_STYLES.get(row.status, "")),
            str(row.turns),
            Text(printable(row.last_tool or "")),
            f"{row.input_tokens}/{row.output_tokens}",
            _cost(row),
            _seconds(row.elapsed_s),
        )
    return grid


_STYLES = {"succeeded": "green", "running": "cyan", "retrying": "yellow", "queued": "dim"}


def _state(row: BatchRow) -> str:
    return f"{row.status} (try {row.attempts + 1})" if row.status == "retrying" else row.status


def _cost(row: BatchRow) -> str:
    return f"{'~' if row.cost_estimated else ''}${row.cost_usd:.4f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _totals_line(view: BatchView) -> str:
    totals = view.totals
    counts = ", ".join(f"{n} {status}" for status, n in sorted(totals.statuses.items()))
    limit = f"at once {view.limit}/{view.parallel}" if view.limit else f"at once {view.parallel}"
    budget = f" of ${view.budget_usd:.2f}" if view.budget_usd is not None else ""
    return (
        f"{totals.prompts} prompts: {counts} | {limit} | {totals.turns} turns, "
        f"{totals.input_tokens}/{totals.output_tokens} tokens, ${totals.cost_usd:.4f}{budget} | "
        f"supervisor {view.supervisor}"
    )


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
        home, {}, LogPrinter(as_json=False), discover=run_ids, until=lambda: batch_over(paths)
    )


def summary(view: BatchView) -> str:
    """The table people compare at the end, and what to do next."""
    rows = [
        (
            row.item,
            row.run_id or row.tag,
            row.status,
            row.attempts,
            row.turns,
            f"{row.input_tokens}/{row.output_tokens}",
            _cost(row),
            _seconds(row.elapsed_s),
            printable(row.detail.splitlines()[0][:60]) if row.detail else "",
        )
        for row in view.rows
    ]
    headers = (
        "#",
        "run",
        "outcome",
        "tries",
        "turns",
        "tokens in/out",
        "cost",
        "elapsed",
        "detail",
    )
    lines = [table(headers, rows), _totals_line(view)]
    lines += [printable(note) for note in view.notes]
    if view.supervisor == "dead":
        lines.append(
            f"the batch's supervisor is not running; pick it up with "
            f"`scad batch resume {view.batch_id}`"
        )
    elif view.supervisor == "ended" and not view.succeeded and not view.budget_spent:
        lines.append(f"run the ones that did not succeed again: scad batch retry {view.batch_id}")
    return "\n".join(lines)
