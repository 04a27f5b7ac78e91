"""The scad command line: parse arguments, call the library, render the result.

Its groups import a command's module only when that command runs (see
:mod:`._groups`), and none imports the Docker client at import time, so commands
that do not talk to Docker start fast. ``scad --version`` alone is answered here,
before click and the event loop are loaded (they are most of a command's start).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING

from .. import __version__
from .._faces import lazy_face

if TYPE_CHECKING:
    from ._root import cli

__all__ = ["cli", "main"]

#: What click's ``--version`` says.
VERSION = f"scad, version {__version__}\n"


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(VERSION)
        return
    try:
        from functools import partial

        import anyio

        from ..interrupts import run_until_stopped
        from ._root import cli

        # Work in flight is rolled back or left consistent by its own clean-up, which
        # a Ctrl-C or a SIGTERM reaches as an anyio cancellation (shields hold).
        command = partial(cli.main, prog_name="scad")
        stopped = anyio.run(
            partial(run_until_stopped, command, repeated=_say_cleaning_up), backend="asyncio"
        )
    except KeyboardInterrupt:  # before the command's handler is in place
        stopped = 130
    if stopped is not None:
        raise SystemExit(stopped)


def _say_cleaning_up() -> None:
    # Called from a signal handler: one unbuffered write, never the (maybe busy) stream,
    # and nothing raised into the code it interrupted (the terminal may be gone).
    with contextlib.suppress(OSError):
        os.write(2, b"scad: stopping: cleaning up what was under way (Ctrl-\\ quits now)\n")


#: The root group, loaded with click when asked for.
__getattr__, __dir__ = lazy_face(__name__, {"cli": "_root"})
