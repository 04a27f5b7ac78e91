"""``-w`` / ``--watch``: a status shown again as it changes, as ``kubectl get -w`` does.

On a terminal the screen is redrawn in place; piped, a new table is printed only
when it differs from the last. Ctrl-C ends the watch: exit 0, no traceback.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import asyncclick as click

from ..interrupts import open_signal_receiver
from ..taskgroups import open_task_group

__all__ = ["WATCH_SECONDS", "show_changes", "watch", "watch_option"]

#: How often a watched status is looked at again.
WATCH_SECONDS = 2.0
#: Home the cursor and clear the screen below it.
_CLEAR = "\x1b[H\x1b[J"


def watch_option(fn: Any) -> Any:
    return click.option(
        "--watch", "-w", is_flag=True, help="Show it again as it changes, until Ctrl-C."
    )(fn)


async def show_changes(
    render: Callable[[], Awaitable[str]],
    *,
    redraw: bool,
    echo: Callable[[str], None] = click.echo,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> None:
    """Show what ``render`` makes, then each :data:`WATCH_SECONDS` what it makes
    when that changed: in place (``redraw``), or as a new table after a blank line."""
    shown: str | None = None
    while True:
        text = await render()
        if text != shown:
            if redraw:
                echo(_CLEAR + text)
            else:
                echo(text if shown is None else "\n" + text)
            shown = text
        await sleep(WATCH_SECONDS)


async def watch(render: Callable[[], Awaitable[str]]) -> None:
    """:func:`show_changes` on stdout until Ctrl-C, which ends it quietly."""
    with anyio.CancelScope() as scope:
        async with open_task_group() as tg:

            async def on_interrupt() -> None:
                with open_signal_receiver(signal.SIGINT) as received:
                    async for _ in received:
                        scope.cancel()

            tg.start_soon(on_interrupt)
            await show_changes(render, redraw=sys.stdout.isatty())
