"""Long work's progress as one line on stderr, rewritten in place: on a terminal only,
never with ``--json`` or when piped (as ``scad build`` shows its steps)."""

from __future__ import annotations

import shutil
import sys
from types import TracebackType

import asyncclick as click

from ..progress import Progress

__all__ = ["ProgressLine"]


class ProgressLine:
    """Shows each :class:`Progress` it hears; the line is cleared when the work ends."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.live = not quiet and sys.stderr.isatty()
        self._shown = False

    def __call__(self, progress: Progress) -> None:
        if not self.live:
            return
        text = f"{progress.what}: {progress.done}/{progress.total}"
        width = shutil.get_terminal_size().columns
        click.echo("\r\x1b[K" + text[: width - 1], nl=False, err=True)
        self._shown = True

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._shown:
            click.echo("\r\x1b[K", nl=False, err=True)
            self._shown = False
