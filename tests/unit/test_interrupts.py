"""Ctrl-C and SIGTERM reach a command as an anyio cancellation: its shielded clean-ups
run to their end, it exits 128 + the signal's number, and says nothing. The real entry
(`scad.cli.main`) runs a command made for the test in a process of its own."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from scad.interrupts import open_signal_receiver

ROOT = Path(__file__).parents[2]

#: `scad hold FOLDER N`: in a shielded scope, waits for each signal the test sends (the test
#: writes ``sent-N`` once it sent the Nth) and says ``seen N``; a moment after the last,
#: its shielded work ends by writing ``done``. Then it waits to be cancelled.
#: ``--receive-first``: a Ctrl-C is first taken by a receiver, as a watch takes it.
#: `scad ask FOLDER`: asks to go on, as a command asks before it removes things.
#: `scad edit FOLDER`: waits for ``sent-1`` as while an editor has the terminal.
PROBE = """
import signal, sys, time
from pathlib import Path

import anyio
import asyncclick as click

from scad.cli import main
from scad.cli._root import cli
from scad.cli._confirm import confirm
from scad.interrupts import ctrl_c_ignored, open_signal_receiver


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


@cli.command("ask")
@click.argument("folder", type=click.Path(path_type=Path))
def ask(folder: Path) -> None:
    print("asking", flush=True)
    confirm("go on?", refusal="no terminal")
    (folder / "answered").touch()


@cli.command("edit")
@click.argument("folder", type=click.Path(path_type=Path))
def edit(folder: Path) -> None:
    with ctrl_c_ignored():  # as while an editor has the terminal
        print("editing", flush=True)
        while not (folder / "sent-1").exists():
            time.sleep(0.01)
    (folder / "done").touch()


sys.argv = ["scad", *sys.argv[1:]]
main()
"""


@contextmanager
def holding(
    tmp_path: Path, *args: str, ignore_ctrl_c: bool = False, stdin: int | None = None
) -> Iterator[subprocess.Popen[str]]:
    """`scad ARGS` of the probe running (started ignoring SIGINT, as a script's
    background job is, with ``ignore_ctrl_c``), killed if the test leaves it running."""
    env = {**os.environ, "SCAD_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", PROBE, *args]
    ignored = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_ctrl_c else None
    with subprocess.Popen(
        argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=ignored,
    ) as process:  # fmt: skip
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
        pytest.param([signal.SIGHUP], 129, id="terminal-closed"),
        pytest.param([signal.SIGINT, signal.SIGINT], 130, id="ctrl-c-twice"),
        pytest.param([signal.SIGINT, signal.SIGTERM], 130, id="ctrl-c-then-sigterm"),
    ],
)
def test_a_signal_waits_for_shielded_work_then_ends_the_command(
    tmp_path: Path, signals: list[signal.Signals], code: int
) -> None:
    """A later signal changes nothing but a line saying what is going on: the clean-up
    under way is bounded by its own timeouts."""
    with holding(tmp_path, "hold", str(tmp_path), str(len(signals))) as process:
        interrupt(process, signals, tmp_path)
        said = "scad: stopping: cleaning up what was under way (Ctrl-\\ quits now)\n"
        assert ended(process) == (code, said * (len(signals) - 1))
    assert (tmp_path / "done").exists()


def test_a_second_signal_with_nowhere_to_say_so_changes_nothing(tmp_path: Path) -> None:
    """The line a second signal says cannot be written (the terminal is gone, the pipe
    closed): the handler swallows that, never raising into the clean-up it interrupted."""
    with holding(tmp_path, "hold", str(tmp_path), "2") as process:
        assert process.stderr is not None
        process.stderr.close()  # a write to it now fails (EPIPE)
        interrupt(process, [signal.SIGINT, signal.SIGHUP], tmp_path)
        process.wait(timeout=30)
        assert process.returncode == 130
    assert (tmp_path / "done").exists()


def test_a_ctrl_c_the_parent_ignores_stays_ignored(tmp_path: Path) -> None:
    """A background job of a script ignores the Ctrl-C meant for the foreground: scad
    does too, where it used to be stopped by it; a SIGTERM still stops it."""
    with holding(tmp_path, "hold", str(tmp_path), "1", ignore_ctrl_c=True) as process:
        says(process, "holding")
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGTERM)
        (tmp_path / "sent-1").touch()
        says(process, "seen 1")
        assert ended(process) == (143, "")


def test_after_a_receiver_is_left_a_ctrl_c_is_the_commands_again(tmp_path: Path) -> None:
    """A watch takes a Ctrl-C while it runs; once it is left, a Ctrl-C cancels the command
    again (anyio's receiver would leave Python's default handler: a KeyboardInterrupt)."""
    with holding(tmp_path, "hold", str(tmp_path), "1", "--receive-first") as process:
        says(process, "receiving")
        process.send_signal(signal.SIGINT)
        interrupt(process, [signal.SIGINT], tmp_path)
        assert ended(process) == (130, "")
    assert (tmp_path / "done").exists()


def test_a_ctrl_c_aborts_a_question_waiting_for_its_answer(tmp_path: Path) -> None:
    """The loop gets no turn while a question waits on the terminal: a Ctrl-C aborts
    it there and then, and the command does nothing (it used to wait for the answer)."""
    terminal, its_side = pty.openpty()
    try:
        with holding(tmp_path, "ask", str(tmp_path), stdin=its_side) as process:
            says(process, "asking")
            time.sleep(0.2)  # into the question's read
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.write(terminal, b"y\n")  # still asking: answered, so the test ends
            code, stderr = ended(process)
        assert (code, stderr.strip().splitlines()[-1]) == (1, "Aborted!")
        assert not (tmp_path / "answered").exists()
    finally:
        os.close(terminal)
        os.close(its_side)


def test_a_ctrl_c_while_an_editor_has_the_terminal_is_the_editors(tmp_path: Path) -> None:
    """An editor cancels things with Ctrl-C: scad, waiting for it, goes on."""
    with holding(tmp_path, "edit", str(tmp_path)) as process:
        says(process, "editing")
        process.send_signal(signal.SIGINT)
        time.sleep(0.1)
        (tmp_path / "sent-1").touch()
        assert ended(process) == (0, "")
    assert (tmp_path / "done").exists()


@pytest.mark.anyio
async def test_nested_receivers_each_take_the_signals_of_their_time() -> None:
    """Each receiver takes the signals that come while it is the innermost, and when
    the last is left the handler from before is back: no signal falls between."""
    before = signal.getsignal(signal.SIGUSR1)
    with open_signal_receiver(signal.SIGUSR1) as outer:
        with open_signal_receiver(signal.SIGUSR1) as inner:
            os.kill(os.getpid(), signal.SIGUSR1)
            with anyio.fail_after(5):
                assert await inner.__anext__() == signal.SIGUSR1
        os.kill(os.getpid(), signal.SIGUSR1)
        with anyio.fail_after(5):
            assert await outer.__anext__() == signal.SIGUSR1
    assert signal.getsignal(signal.SIGUSR1) == before
