"""Shared fixtures: an isolated $SCAD_HOME, git repos, and the CLI runner."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import pty
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from asyncclick.testing import CliRunner, Result

from scad.cli import cli
from scad.cli._app import Application, EngineFactory
from scad.engine import Engine
from scad.home import Home

CERT_DIR = Path("/usr/local/share/ca-certificates")


#: A callback that holds the event loop longer than this is a blocking call on it.
SLOW_CALLBACK_SECONDS = 0.05


class _WatchedLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock leaves out what a busy machine, not the code, made
    its thread wait for: a CPU that other processes held, and a new worker thread
    getting its first turn (``Thread.start`` waits for it). A callback is slow for
    what it did: computed, slept, waited for a lock or a disk."""

    def __init__(self) -> None:
        super().__init__()
        self.slow_callback_duration = SLOW_CALLBACK_SECONDS
        self._schedstat = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
        self._thread = threading.get_ident()
        self._excused = 0.0
        self._last = 0.0

    def time(self) -> float:
        try:
            waited_ns = int(self._schedstat.read_bytes().split()[1])
        except (OSError, IndexError, ValueError):
            waited_ns = 0  # no scheduler statistics: wall time
        self._last = max(self._last, super().time() - waited_ns / 1e9 - self._excused)
        return self._last

    def excuse(self, seconds: float) -> None:
        """Leave ``seconds`` the loop's thread spent starting a thread out of its clock."""
        if threading.get_ident() == self._thread:
            self._excused += seconds


def _excusing_thread_starts(loop: _WatchedLoop) -> Callable[[threading.Thread], None]:
    start = threading.Thread.start

    def timed_start(thread: threading.Thread) -> None:
        began = time.monotonic()
        try:
            start(thread)
        finally:
            loop.excuse(time.monotonic() - began)

    return timed_start


@pytest.fixture
def anyio_backend(request: pytest.FixtureRequest) -> str | tuple[str, dict[str, Any]]:
    # aiodocker runs on asyncio only. Tests marked ``loop_watch`` run in asyncio's
    # debug mode, which logs every callback slower than SLOW_CALLBACK_SECONDS.
    if request.node.get_closest_marker("loop_watch"):
        monkeypatch = request.getfixturevalue("monkeypatch")

        def watched_loop() -> _WatchedLoop:
            loop = _WatchedLoop()
            monkeypatch.setattr(threading.Thread, "start", _excusing_thread_starts(loop))
            return loop

        return "asyncio", {"debug": True, "loop_factory": watched_loop}
    return "asyncio"


class _SlowCallbacks(logging.Handler):
    """What asyncio's debug mode says about callbacks that held the loop too long."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing ") and " took " in message:
            self.seen.append(message)


@pytest.fixture(autouse=True)
def loop_watch(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked ``loop_watch`` fails when anything blocked its event loop (a file
    synced, a lock waited for, a folder scanned or a sleep on the loop's thread)."""
    if not request.node.get_closest_marker("loop_watch"):
        yield
        return
    slow = _SlowCallbacks()
    logger = logging.getLogger("asyncio")
    logger.addHandler(slow)
    # What earlier tests left on the heap is kept out of the collector's full passes:
    # their pauses are not this test's.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        logger.removeHandler(slow)
    if slow.seen:
        pytest.fail("the event loop was blocked:\n" + "\n".join(slow.seen), pytrace=False)


@pytest.fixture
def scad_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "scad-home"
    monkeypatch.setenv("SCAD_HOME", str(home))
    return home


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A git repository with one commit holding ``files``."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for name, text in (files or {"README.md": "hello\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(path),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "init",
        ],
        check=True,
    )
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def host_certificates() -> list[str]:
    """The extra CA certificates this host trusts (a TLS-intercepting proxy's)."""
    return sorted(str(p) for p in CERT_DIR.glob("*.crt")) if CERT_DIR.is_dir() else []


class Cli:
    """Runs scad in-process and returns exit code and output. The commands get
    ``app`` (by default, the host's: ``$SCAD_HOME`` and the engine there)."""

    def __init__(self) -> None:
        self.runner = CliRunner(catch_exceptions=False)
        self.app: Application | None = None

    def use_engine(self, home: Path, open_engine: EngineFactory) -> None:
        """The commands find their home at ``home`` and their engine through ``open_engine``."""
        self.app = Application.with_engine(Home(home), open_engine)

    async def __call__(self, *args: str, input: str | None = None) -> Result:
        return await self.runner.invoke(
            cli, list(args), input=input, prog_name="scad", obj=self.app
        )


def opening(engine: Engine) -> EngineFactory:
    """An engine factory that hands out ``engine``."""

    @asynccontextmanager
    async def open_engine(*, max_connections: int = 100) -> AsyncIterator[Engine]:
        yield engine

    return open_engine


@pytest.fixture
def run_cli(scad_home: Path) -> Iterator[Cli]:
    yield Cli()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


#: The real `scad` executable of this environment.
SCAD = str(Path(sys.executable).parent / "scad")


def on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[str, str]:
    """Run the real scad with its stderr on a pseudo-terminal; its stdout and what the
    terminal showed."""
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [SCAD, *argv], stdout=subprocess.PIPE, stderr=follower, env=env, timeout=60
        )
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: all is read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    return result.stdout.decode(), shown.decode()
