"""`scad ui`: the web view, served on this host until interrupted."""

from __future__ import annotations

import os
import webbrowser
from contextlib import ExitStack

import anyio
import asyncclick as click

from ..errors import UsageError
from ..interrupts import STOP_SIGNALS, open_signal_receiver
from ..taskgroups import open_task_group
from ._app import Application, pass_app


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=0,
    type=click.IntRange(0, 65535),
    help="Port to listen on (default: a free one).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@pass_app
async def ui(app: Application, host: str, port: int, open_browser: bool) -> None:
    """Watch runs and batches live in a browser (until Ctrl-C).

    Only the address printed (its token) opens it. It reads the logs every other
    view reads: starting or stopping it changes no run or batch.
    """
    from ..ui import Sources, launch_page, serve_ui

    sources = Sources(app.home, app.open_engine, app.open_socket_engine)
    try:
        # The page is removed once the server has stopped.
        with ExitStack() as stack:
            async with serve_ui(sources, host=host, port=port) as serving, open_task_group() as tg:
                click.echo(f"scad ui: {serving.url}")
                click.echo("Ctrl-C stops it.", err=True)
                if open_browser:
                    # The browser is given a private page that refreshes to the address,
                    # not the address: an argument list (token and all) is public in /proc.
                    page = stack.enter_context(launch_page(serving.url))
                    tg.start_soon(_open_in_browser, page.as_uri())
                with open_signal_receiver(*STOP_SIGNALS) as signals:
                    async for _ in signals:
                        break
                tg.cancel_scope.cancel()
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise UsageError(f"cannot listen on {host}:{port}: {reason}; pick another --port") from None
    click.echo("scad ui stopped", err=True)


async def _open_in_browser(url: str) -> None:
    await anyio.to_thread.run_sync(webbrowser.open, url)
