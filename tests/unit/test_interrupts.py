"""Ctrl-C and SIGTERM reach a command as an anyio cancellation: its shielded clean-ups
run to their end, it exits 128 + the signal's number, and says nothing. The real entry
(`scad.cli.main`) runs a command made for the test in a process of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

#: `scad hold`: in a shielded scope, waits for each signal the test sends (the test
#: writes ``sent-N`` once it sent the Nth) and says ``seen N``; a moment after the last,
#: its shielded work ends by writing ``done``. Then it waits to be cancelled.
#: ``--receive-first``: a Ctrl-C is first taken by a receiver, as a watch takes it.
PROBE = """
import signal, sys
from pathlib import Path

import anyio
import asyncclick as click

from scad.cli import main
from scad.cli._root import cli
from scad.interrupts import open_signal_receiver


async def sent(folder: Path, n: int) -> None:
    while not (folder / f"sent-{n}").exists():
        await anyio.sleep(0.01)


@cli.command("hold")
@click.argument("folder", type=click.Path(path_type=Path))
@click.argument("signals", type=int)
@click.option("--receive-first", is_flag=True)
async def hold(folder: Path, signals: int, receive_first: bool) -> None:
    if receive_first:
        with open_signal_receiver(signal.SIGINT) as received:
            print("receiving", flush=True)
            async for _ in received:
                break
    with anyio.CancelScope(shield=True):
        print("holding", flush=True)
        for n in range(1, signals + 1):
            await sent(folder, n)
            print(f"seen {n}", flush=True)
        await anyio.sleep(0.2)
        (folder / "done").touch()
    await anyio.sleep(60)


sys.argv = ["scad", "hold", *sys.argv[1:]]
main()
"""


@contextmanager
def holding(tmp_path: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`scad hold` running, killed if the test leaves it running."""
    env = {**os.environ, "SCAD_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", PROBE, str(tmp_path), *args]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            yield process
        finally:
            process.kill()


def says(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdout is not None
    assert process.stdout.readline() == f"{line}\n"


def interrupt(process: subprocess.Popen[str], signals: list[signal.Signals], folder: Path) -> None:
    """Send each of ``signals`` once the command holds, each after the last was seen."""
    says(process, "holding")
    for n, signum in enumerate(signals, 1):
        process.send_signal(signum)
        (folder / f"sent-{n}").touch()
        says(process, f"seen {n}")


def ended(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=30)
    return process.returncode, stderr


@pytest.mark.parametrize(
    ("signals", "code"),
    [
        pytest.param([signal.SIGINT], 130, id="ctrl-c"),
        pytest.param([signal.SIGTERM], 143, id="sigterm"),
        pytest.param([signal.SIGINT, signal.SIGINT], 130, id="ctrl-c-twice"),
        pytest.param([signal.SIGINT, signal.SIGTERM], 130, id="ctrl-c-then-sigterm"),
    ],
)
def test_a_signal_waits_for_shielded_work_then_ends_the_command(
    tmp_path: Path, signals: list[signal.Signals], code: int
) -> None:
    """A later signal changes nothing: the clean-up under way is bounded by its own timeouts."""
    with holding(tmp_path, str(len(signals))) as process:
        interrupt(process, signals, tmp_path)
        assert ended(process) == (code, "")
    assert (tmp_path / "done").exists()


def test_after_a_receiver_is_left_a_ctrl_c_is_the_commands_again(tmp_path: Path) -> None:
    """A watch takes a Ctrl-C while it runs; once it is left, a Ctrl-C cancels the command
    again (anyio's receiver would leave Python's default handler: a KeyboardInterrupt)."""
    with holding(tmp_path, "1", "--receive-first") as process:
        says(process, "receiving")
        process.send_signal(signal.SIGINT)
        interrupt(process, [signal.SIGINT], tmp_path)
        assert ended(process) == (130, "")
    assert (tmp_path / "done").exists()
