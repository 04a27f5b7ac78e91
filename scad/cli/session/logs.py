from __future__ import annotations

import contextlib
from collections import deque
from typing import TYPE_CHECKING

import asyncclick as click

from ...errors import EngineUnavailable
from ...runs.envelopes import Envelope, encode_envelope
from ...runs.records import find_run
from ...text import printable
from .._activity import activity_lines
from .._app import Application, pass_app
from .._complete import run_ids

if TYPE_CHECKING:
    from ...engine._types import Engine


@click.command("logs")
@click.argument("run_id", shell_complete=run_ids)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.option(
    "--tail",
    "-n",
    "lines",
    type=click.IntRange(min=0),
    help="Only the last N lines of what came before.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the envelope lines as they are stored."
)
@pass_app
async def command(
    app: Application, run_id: str, follow: bool, lines: int | None, as_json: bool
) -> None:
    """What the session's agent did: messages, tool calls, results."""
    from ...sessions import pane_text, stream_events

    home = app.home
    record = find_run(home, run_id)
    # With -n, what came before is held back (only the last N lines) until it ends.
    held: deque[str] | None = deque(maxlen=lines) if lines is not None else None

    def flush() -> None:
        nonlocal held
        for line in held or ():
            click.echo(line)
        held = None

    def emit(envelopes: list[Envelope], live: bool) -> None:
        if as_json:
            out = [encode_envelope(e).decode() for e in envelopes]
        else:
            out = [line for e in envelopes for line in activity_lines(e)]
        if held is not None and not live:
            held.extend(out)
            return
        flush()
        for line in out:
            click.echo(line)

    async with contextlib.AsyncExitStack() as stack:
        try:
            engine: Engine | None = await stack.enter_async_context(app.open_engine())
        except EngineUnavailable as exc:
            click.echo(f"warning: {exc}; showing the log as last read", err=True)
            engine = None
        running = await stream_events(engine, home, record, emit, follow=follow)
        flush()
        if engine is not None and record.mode == "interactive" and running and not as_json:
            click.echo("--- tmux pane ---")
            # The pane is what the agent's terminal shows: its escapes are not for ours.
            pane = (await pane_text(engine, record)).split("\n")
            click.echo("\n".join(printable(line) for line in pane), nl=False)
