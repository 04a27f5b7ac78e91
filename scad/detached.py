"""Processes scad starts to outlive the command that started them (a batch's
supervisor, the home's gateway): how they are started, and what they last said.
Blocking: call these in a worker thread."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["last_line", "spawn"]


def spawn(
    module: str,
    args: Sequence[str],
    log: str | Path | None,
    env: Mapping[str, str],
    *,
    stdin: int = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """``python -P -m module args`` in its own session, its output appended to ``log``
    (None: dropped, until the process opens a log of its own)."""
    with open(log or os.devnull, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-P", "-m", module, *args],
            stdin=stdin,
            stdout=out,
            stderr=out,
            env=dict(env),
            # Not the folder it was typed in: an empty entry of PYTHONPATH means that
            # folder, and -P does not drop it (a `scad` folder there would be imported).
            cwd="/",
            start_new_session=True,  # no terminal's signals reach it
        )


def last_line(log: str | Path) -> str:
    """The last line ``log`` holds (read from its last 4 KiB), or ``(no output)``."""
    try:
        with open(log, "rb") as out:
            out.seek(max(0, out.seek(0, os.SEEK_END) - 4096))
            lines = out.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return lines[-1] if lines else "(no output)"
