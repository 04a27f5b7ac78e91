"""An interactive session's terminal: attaching to it and reading its screen."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from ..errors import SessionError
from ..runs.records import RunRecord

if TYPE_CHECKING:
    from ..engine._types import Engine

__all__ = ["attach_command", "pane_text"]

TMUX_SESSION = "main"


async def _running_interactive(engine: Engine, record: RunRecord) -> str:
    if record.mode != "interactive":
        raise SessionError(
            f"{record.run_id} is headless and has no terminal; follow it with `scad session logs {record.run_id} -f`"
        )
    state = await engine.inspect(record.container_id) if record.container_id else None
    if state is None or not state.running:
        raise SessionError(
            f"{record.run_id} is not running; start it again with `scad session resume {record.run_id}`"
        )
    assert record.container_id is not None
    return record.container_id


async def attach_command(engine: Engine, record: RunRecord) -> list[str]:
    """The command that puts this terminal into the session's tmux (Ctrl+b d detaches)."""
    container_id = await _running_interactive(engine, record)
    docker = shutil.which("docker")
    if docker is None:
        raise SessionError(
            "attaching needs the docker command-line client; install it (e.g. the docker.io package)"
        )
    return [docker, "exec", "-it", container_id, "tmux", "attach-session", "-t", TMUX_SESSION]


async def pane_text(engine: Engine, record: RunRecord) -> str:
    """What the session's tmux pane shows now."""
    container_id = await _running_interactive(engine, record)
    result = await engine.exec(container_id, ["tmux", "capture-pane", "-p", "-t", TMUX_SESSION])
    return result.output.rstrip() + "\n" if result.exit_code == 0 else ""
