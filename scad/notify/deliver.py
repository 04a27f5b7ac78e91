"""Delivering one notice: to the user's command (the document on its stdin) and to
the user's URL (the document POSTed), each bounded in time and in what is kept of
its answer. A delivery never raises: how it went comes back as a :class:`Delivery`.

A command is run without a shell when it is plain words (``notify-send-json
--urgent``: split as a shell would, then executed directly); when it uses the
shell's own syntax (pipes, redirections, ``$VARS``, ``;``, ``&&``, globs, a leading
``NAME=value``) it is run by ``/bin/sh -c`` exactly as written. Either way it gets
the document on stdin and nothing else: its arguments are the user's words, its
environment the one scad was started with. It runs in a process group of its own,
killed whole when its time is up.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
from typing import Literal

import anyio
import msgspec
from anyio.abc import Process

from ..config.schema import NotifySettings
from ..taskgroups import open_task_group
from ..text import printable
from .notice import Notice, encode_notice

__all__ = ["OUTPUT_LIMIT", "Delivery", "command_argv", "deliver"]

#: What is kept of a notifier's output or answer, for the log (its last bytes).
OUTPUT_LIMIT = 2048
#: How long a command that exited may take to close its output (a child it left
#: running may hold it open).
_DRAIN_SECONDS = 1.0
#: The shell's syntax: a command holding any of these is run by ``sh -c``.
_SHELL_SYNTAX = re.compile(r"[|&;<>()$`\\*?\[\]{}~#\n]|^\s*[A-Za-z_][A-Za-z0-9_]*=")


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """How one notifier took one notice."""

    target: Literal["command", "url"]
    ok: bool
    #: What happened: its exit code or HTTP status, or why it failed, and the tail of
    #: what it said (printable, bounded).
    detail: str


def command_argv(command: str) -> list[str]:
    """How ``command`` is run: its words, or ``sh -c`` when it speaks shell."""
    if _SHELL_SYNTAX.search(command):
        return ["/bin/sh", "-c", command]
    return shlex.split(command)


async def deliver(settings: NotifySettings, notice: Notice) -> list[Delivery]:
    """Tell every notifier of ``settings`` (at once), each within ``settings.timeout``."""
    document = encode_notice(notice)
    done: list[Delivery] = []

    async def to_command(command: str) -> None:
        done.append(await _run_command(command, document, settings.timeout))

    async def to_url(url: str) -> None:
        done.append(await _post(url, document, settings.timeout))

    async with open_task_group() as tg:
        if settings.command:
            tg.start_soon(to_command, settings.command)
        if settings.url:
            tg.start_soon(to_url, settings.url)
    return sorted(done, key=lambda d: d.target)


async def _run_command(command: str, document: bytes, seconds: float) -> Delivery:
    try:
        process = await anyio.open_process(
            command_argv(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return Delivery(target="command", ok=False, detail=f"could not start: {exc.strerror}")
    tail = bytearray()
    output_closed = anyio.Event()
    code: int | None = None
    try:
        with anyio.move_on_after(seconds):
            async with open_task_group() as tg:
                tg.start_soon(_read_tail, process, tail, output_closed)
                await _feed(process, document)
                code = await process.wait()
                # A child the command left behind may hold its output open.
                with anyio.move_on_after(_DRAIN_SECONDS):
                    await output_closed.wait()
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await _kill(process)
    said = _said(bytes(tail))
    if code is None:
        return Delivery(target="command", ok=False, detail=f"timed out after {seconds:g} s{said}")
    return Delivery(target="command", ok=code == 0, detail=f"exit {code}{said}")


async def _feed(process: Process, document: bytes) -> None:
    assert process.stdin is not None
    # A notifier that reads nothing has closed its end: that is its business.
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        await process.stdin.send(document)
    with contextlib.suppress(anyio.BrokenResourceError, OSError):
        await process.stdin.aclose()


async def _read_tail(process: Process, tail: bytearray, closed: anyio.Event) -> None:
    """The last of the command's output kept in ``tail`` until the output closes."""
    assert process.stdout is not None
    with contextlib.suppress(
        anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError
    ):
        while True:
            tail += await process.stdout.receive()
            del tail[:-OUTPUT_LIMIT]
    closed.set()


async def _kill(process: Process) -> None:
    """The command's whole process group gone (it may have left children), and the
    command reaped."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with anyio.move_on_after(_DRAIN_SECONDS):
        await process.wait()
    await process.aclose()


async def _post(url: str, document: bytes, seconds: float) -> Delivery:
    import aiohttp  # only a notifier with a URL pays for it

    answer = b""
    status: int | None = None
    with anyio.move_on_after(seconds):
        try:
            # Only what the user configured: no proxy from the environment, no redirect.
            async with (
                aiohttp.ClientSession(trust_env=False) as client,
                client.post(
                    url,
                    data=document,
                    headers={"content-type": "application/json"},
                    allow_redirects=False,
                ) as response,
            ):
                status = response.status
                answer = await response.content.read(OUTPUT_LIMIT)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Delivery(target="url", ok=False, detail=f"could not post: {_reason(exc)}")
    if status is None:
        return Delivery(target="url", ok=False, detail=f"timed out after {seconds:g} s")
    return Delivery(target="url", ok=200 <= status < 300, detail=f"HTTP {status}{_said(answer)}")


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return printable(text[:OUTPUT_LIMIT])


def _said(output: bytes) -> str:
    text = printable(output.decode(errors="replace").strip()[-OUTPUT_LIMIT:])
    return f": {text}" if text else ""
