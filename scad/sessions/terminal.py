"""An interactive session's terminal: attaching to it and reading its screen."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..errors import SessionError
from ..runs.records import RunRecord

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["attach_command", "detach_keys", "pane_text"]

TMUX_SESSION = "main"
#: The session's tmux keeps tmux's own prefix (the image's tmux.conf leaves it alone).
SESSION_PREFIX = "C-b"
#: Bound on asking the user's own tmux about its keys.
TMUX_QUERY_TIMEOUT = 5.0
_SEND_PREFIX = re.compile(r"^bind-key\s+(?:-r\s+)?-T\s+prefix\s+(\S+)\s+send-prefix(\s+-2)?\s*$")


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


async def detach_keys(environ: Mapping[str, str]) -> str:
    """The keys that detach from the session's tmux, as a person reads them.

    Inside tmux (``$TMUX``) the user's own tmux sees every key first: when its prefix
    is the session's too, the session gets one only through the user's ``send-prefix``
    key (tmux binds the prefix itself to it), so the prefix is pressed, then that key
    (``send-prefix -2``'s when it is the user's second prefix).
    """
    if not environ.get("TMUX"):
        return _readable(f"{SESSION_PREFIX} d")
    outer = await _outer_keys(environ)
    if outer is None:  # it does not answer: tmux's defaults
        outer = _OuterKeys(prefix=SESSION_PREFIX, prefix2=None, send={"": SESSION_PREFIX})
    if outer.prefix == SESSION_PREFIX:
        which = ""
    elif outer.prefix2 == SESSION_PREFIX:
        which = "-2"
    else:
        return _readable(f"{SESSION_PREFIX} d")
    send_prefix = outer.send.get(which)
    if send_prefix is None:
        return (
            f"{_readable(SESSION_PREFIX)} d, which your tmux takes first: bind a key to "
            f"{' '.join(['send-prefix', which]).strip()} in it to reach the session's"
        )
    return _readable(f"{SESSION_PREFIX} {send_prefix} d")


class _OuterKeys(msgspec.Struct, frozen=True, kw_only=True):
    """The user's tmux's prefixes, and its keys for ``send-prefix`` ("") and ``-2``."""

    prefix: str | None
    prefix2: str | None
    send: dict[str, str]


async def _outer_keys(environ: Mapping[str, str]) -> _OuterKeys | None:
    """What the user's tmux does with keys; None when it does not say."""
    tmux = shutil.which("tmux", path=environ.get("PATH", os.defpath))
    if tmux is None:
        return None
    env = dict(environ)
    try:
        with anyio.fail_after(TMUX_QUERY_TIMEOUT):
            options = await anyio.run_process(
                [tmux, "show-options", "-g", "prefix"], env=env, stdin=subprocess.DEVNULL
            )
            options2 = await anyio.run_process(
                [tmux, "show-options", "-g", "prefix2"], env=env, stdin=subprocess.DEVNULL
            )
            keys = await anyio.run_process(
                [tmux, "list-keys", "-T", "prefix"], env=env, stdin=subprocess.DEVNULL
            )
    except (OSError, TimeoutError, subprocess.CalledProcessError):
        return None
    send: dict[str, str] = {}
    for line in keys.stdout.decode(errors="replace").splitlines():
        if match := _SEND_PREFIX.match(line):
            send.setdefault((match[2] or "").strip(), match[1])
    return _OuterKeys(prefix=_value(options.stdout), prefix2=_value(options2.stdout), send=send)


def _value(shown: bytes) -> str | None:
    """The value in ``show-options``' ``NAME VALUE`` line."""
    words = shown.decode(errors="replace").split()
    return words[1] if len(words) == 2 else None


def _readable(keys: str) -> str:
    """tmux's key names as a person reads them: ``C-b d`` is ``Ctrl+b d``."""
    words = []
    for key in keys.split():
        for short, long in (("C-", "Ctrl+"), ("M-", "Alt+"), ("S-", "Shift+")):
            if key.startswith(short) and len(key) > len(short):
                key = long + key[len(short) :]
        words.append(key)
    return " ".join(words)
