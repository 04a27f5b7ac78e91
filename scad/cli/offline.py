"""`scad offline serve`: run the offline model in the foreground."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import anyio
import asyncclick as click

from ..text import printable
from ._groups import HelpGroup

if TYPE_CHECKING:
    from ..offline import Served


@click.group(cls=HelpGroup)
def offline() -> None:
    """The offline model: a scripted Messages API for trying scad without an account."""


@offline.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0 picks a free port.",
)
@click.option("--log", "log", is_flag=True, help="Print one line for every answer it serves.")
async def serve(host: str, port: int, log: bool) -> None:
    """Serve the offline model until interrupted."""
    from ..errors import UsageError
    from ..offline import serve_offline_model

    try:
        async with serve_offline_model(host, port, _print_served if log else None) as model:
            click.echo(f"offline model listening on {model.url}")
            click.echo("to use it from a session, add to the config:")
            click.echo("  network: host")
            click.echo("  claude:")
            click.echo(f'    env: {{ANTHROPIC_BASE_URL: "{model.url}"}}')
            click.echo("and set any API key on the host, e.g. export ANTHROPIC_API_KEY=offline")
            await anyio.sleep_forever()
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise UsageError(f"cannot listen on {host}:{port}: {reason}; pick another --port") from None


def served_line(served: Served) -> str:
    """One answer as a log line: status, turn, what it did, tokens, and whose prompt."""
    what = (
        f"RUN {served.command}" if served.command else ("text" if served.status == 200 else "error")
    )
    return printable(
        f"{served.status} turn {served.turn} {what} "
        f"(in {served.input_tokens}, out {served.output_tokens}) {served.prompt!r}"
    )


def _print_served(served: Served) -> None:
    click.echo(served_line(served))
