from __future__ import annotations

import contextlib
from collections import deque
from typing import TYPE_CHECKING

import anyio
import asyncclick as click

from ...errors import EngineUnavailable
from ...runs.activity import activity_lines
from ...runs.envelopes import Envelope, encode_envelope
from ...runs.records import RunPaths, RunRecord, find_run
from ...runs.transcripts import TranscriptFollower, emit_transcripts, follow_transcripts
from ...taskgroups import open_task_group
from ...text import printable
from .._app import Application, pass_app
from .._complete import run_ids
from .._json import Document, JsonCommand, JsonOutput, json_option

#: What --json prints: one line of the run's log a line.
JSON = Document(("scad.runs.envelopes:ClaudeLine", "scad.runs.envelopes:ScadEvent"), lines=())

if TYPE_CHECKING:
    from collections.abc import Callable

    from ...engine import Engine
    from ...home import Home

    Emit = Callable[[list[Envelope], bool], None]


@click.command("logs", cls=JsonCommand)
@click.argument("run_id", shell_complete=run_ids)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.option(
    "--tail",
    "-n",
    "lines",
    type=click.IntRange(min=0),
    help="Only the last N lines of what came before.",
)
@json_option(JSON, help="Print the lines as JSON lines, as they are stored (only FIELDS).")
@pass_app
async def command(
    app: Application, run_id: str, follow: bool, lines: int | None, as_json: JsonOutput | None
) -> None:
    """What the session's agent did: messages, tool calls, results (for an interactive
    session, from Claude's transcripts)."""
    from ...runs import stream_events
    from ...sessions import pane_text

    home = app.home
    record = find_run(home, run_id)
    if as_json and record.mode == "interactive":
        click.echo(
            "note: --json holds the run's log only: an interactive run's transcripts are "
            f"left out; `scad session logs {record.run_id}` shows them",
            err=True,
        )
    # With -n, what came before is held back (only the last N lines) until it ends.
    held: deque[str] | None = deque(maxlen=lines) if lines is not None else None

    def flush() -> None:
        nonlocal held
        for line in held or ():
            click.echo(line)
        held = None

    def emit(envelopes: list[Envelope], live: bool) -> None:
        if as_json:
            out = [as_json.line({}, encode_envelope(e)).decode() for e in envelopes]
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
        if record.mode == "interactive" and not as_json:
            running = await _interactive(engine, home, record, emit, follow=follow)
        else:
            running = await stream_events(engine, home, record, emit, follow=follow)
        flush()
        if engine is not None and record.mode == "interactive" and running and not as_json:
            click.echo("--- tmux pane ---")
            # The pane is what the agent's terminal shows: its escapes are not for ours.
            pane = (await pane_text(engine, record)).split("\n")
            click.echo("\n".join(printable(line) for line in pane), nl=False)


async def _interactive(
    engine: Engine | None, home: Home, record: RunRecord, emit: Emit, *, follow: bool
) -> bool:
    """An interactive run's log, then what its Claude did (its transcripts: Claude in
    a terminal prints nothing to the log); with ``follow``, both as they grow."""
    from ...runs import stream_events

    transcripts = TranscriptFollower(RunPaths(home, record.run_id).claude_dir)
    printed = -1

    def emit_log(envelopes: list[Envelope], live: bool) -> None:
        nonlocal printed
        # Followed from its start again: what the first pass printed is not printed twice.
        fresh = [e for e in envelopes if e.seq > printed]
        printed = max((e.seq for e in fresh), default=printed)
        emit(fresh, live)

    running = await stream_events(engine, home, record, emit_log, follow=False)
    await emit_transcripts(transcripts, emit, live=False)
    if transcripts.problem:
        click.echo(f"note: transcripts not all followed: {transcripts.problem}", err=True)
    if not (follow and running):
        return running
    done = anyio.Event()
    async with open_task_group() as tg:
        tg.start_soon(follow_transcripts, transcripts, emit, done)
        await stream_events(engine, home, record, emit_log, follow=True)
        done.set()
    return False
