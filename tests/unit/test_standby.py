"""A supervisor started ahead of its batch: handed the batch, it supervises it in
place of a new process; never handed one, it is ended having done nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scad.batch import process
from scad.batch.process import spawn_supervisor
from scad.batch.standby import Standby, supervisor_standby
from scad.batch.store import BatchPaths
from scad.errors import SessionError
from scad.home import Home
from tests.unit.test_batches import BATCH, home

__all__ = ["home"]

pytestmark = pytest.mark.anyio

#: What the supervisor of the fixture's batch says: its config is gone.
NO_CONFIG = 'no config named "p"; create one with `scad config new p`'


@pytest.fixture
def no_fresh_process(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Batches a new supervisor process was started for (none, when the standby took it)."""
    started: list[str] = []
    real = process._start_process

    def start(home: Home, paths: BatchPaths, batch_id: str) -> subprocess.Popen[bytes]:
        started.append(batch_id)
        return real(home, paths, batch_id)

    monkeypatch.setattr(process, "_start_process", start)
    return started


async def test_a_standby_handed_the_batch_supervises_it(
    home: Home, no_fresh_process: list[str]
) -> None:
    """The standby's own process takes the batch, and its output goes to the batch's
    log: here the supervisor's last word, that the batch's config is gone."""
    async with supervisor_standby(home) as standby:
        with pytest.raises(SessionError) as raised:
            await spawn_supervisor(home, BATCH, standby)
    assert str(raised.value).endswith(NO_CONFIG)
    assert no_fresh_process == []
    assert standby.process.wait(timeout=30) == 2
    log = Path(BatchPaths(home, BATCH).supervisor_log).read_text()
    assert log.startswith("scad: error: ") and NO_CONFIG in log


async def test_a_standby_never_handed_a_batch_ends_having_done_nothing(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    async with supervisor_standby(home) as standby:
        assert standby.process.poll() is None  # standing by
    assert standby.process.returncode is not None  # ended, and reaped
    assert not home.root.exists()


async def test_a_standby_that_died_is_replaced_by_a_new_process(
    home: Home, no_fresh_process: list[str]
) -> None:
    async with supervisor_standby(home) as standby:
        standby.process.kill()
        standby.process.wait(timeout=30)
        with pytest.raises(SessionError) as raised:
            await spawn_supervisor(home, BATCH, standby)
    assert str(raised.value).endswith(NO_CONFIG)
    assert no_fresh_process == [BATCH]


async def test_a_standby_takes_one_batch_only(tmp_path: Path) -> None:
    async with supervisor_standby(Home(tmp_path / "home")) as standby:
        assert standby.hand_over("p-a-Nov27-1000") is standby.process
        assert standby.hand_over("p-b-Nov27-1000") is None
    standby.process.kill()  # handed a batch that is not there
    standby.process.wait(timeout=30)


async def test_a_standby_whose_command_died_ends_by_itself(tmp_path: Path) -> None:
    """Its input ends with no batch named (the command was killed): it ends, 0."""
    async with supervisor_standby(Home(tmp_path / "home")) as standby:
        assert standby.process.stdin is not None
        standby.process.stdin.close()
        assert standby.process.wait(timeout=30) == 0


async def test_a_standby_whose_command_failed_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The block that makes the batch raised: the standby is let go, and ends."""
    made: list[Standby] = []
    with pytest.raises(RuntimeError):
        async with supervisor_standby(Home(tmp_path / "home")) as standby:
            made.append(standby)
            raise RuntimeError("the image did not build")
    assert made[0].process.returncode is not None


def test_a_standby_that_could_not_import_says_why_in_the_batch_log(home: Home) -> None:
    """Handed the batch, it writes what failed where the command looks for it, and
    ends 1 (not a silent death the command could only call "no output")."""
    standby = (
        "import sys; from scad.batch import process; "
        "process._SUPERVISING = ('scad.no_such_module',); process.main(['--standby'])"
    )
    ended = subprocess.run(
        [sys.executable, "-c", standby],
        input=f"{BATCH}\n".encode(),
        env={**os.environ, "SCAD_HOME": str(home.root)},
        capture_output=True,
        timeout=60,
    )
    assert (ended.returncode, ended.stdout, ended.stderr) == (1, b"", b"")
    log = Path(BatchPaths(home, BATCH).supervisor_log).read_text()
    assert log.rstrip().endswith("ModuleNotFoundError: No module named 'scad.no_such_module'")


def test_what_a_standby_imports_leaves_out_the_engine_client() -> None:
    """A local batch's supervisor asks the engine's socket for its runs' containers:
    what it imports while the command makes the batch is not the Docker client,
    whose import (aiohttp builds TLS contexts as it loads) would delay the handover."""
    probe = (
        "import importlib, sys\n"
        "from scad.batch.process import _SUPERVISING\n"
        "for module in _SUPERVISING: importlib.import_module(module)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'aiodocker')))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.split() == ["[]"]
