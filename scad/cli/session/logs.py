from __future__ import annotations

import anyio
import asyncclick as click
import msgspec

from ...home import scad_home
from ...runs import RunPaths, load_run
from .._activity import activity_lines
from .._complete import run_ids

POLL_SECONDS = 0.2


@click.command("logs")
@click.argument("run_id", shell_complete=run_ids)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.option("-n", "lines", type=click.IntRange(min=0), help="Only the last N lines.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the envelope lines as they are stored."
)
async def command(run_id: str, follow: bool, lines: int | None, as_json: bool) -> None:
    """What the session's agent did: messages, tool calls, results."""
    from ...engine import open_engine
    from ...events import read_events
    from ...sessions import catch_up, pane_text
    from ...sessions import follow as follow_run

    home = scad_home()
    record = load_run(home, run_id)
    paths = RunPaths(home, run_id)

    def render(envelopes) -> list[str]:  # type: ignore[no-untyped-def]
        if as_json:
            return [msgspec.json.encode(e).decode() for e in envelopes]
        return [line for e in envelopes for line in activity_lines(e)]

    async with open_engine() as engine:
        running = await catch_up(engine, home, record)
        envelopes, offset = read_events(paths)
        out = render(envelopes)
        for line in out[-lines:] if lines is not None else out:
            click.echo(line)
        if follow and running:
            done = anyio.Event()

            async def ingest() -> None:
                await follow_run(engine, home, record)
                done.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(ingest)
                while True:
                    finished = done.is_set()
                    envelopes, offset = read_events(paths, offset)
                    for line in render(envelopes):
                        click.echo(line)
                    if finished:
                        break
                    with anyio.move_on_after(POLL_SECONDS):
                        await done.wait()
        if record.mode == "interactive" and running and not as_json:
            click.echo("--- tmux pane ---")
            click.echo(await pane_text(engine, record), nl=False)
