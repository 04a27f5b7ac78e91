"""Fixtures several unit test modules share: a temporary folder of their own, a clone,
a fake disk."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from scad.code.clones import create_clone
from scad.layout import agent_owner


@pytest.fixture(autouse=True)
def system_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder, as gc and ccusage see it: one of the test's own,
    so what other processes leave in the machine's /tmp never reaches a unit test."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
async def clone(repo: Path, tmp_path: Path) -> Path:
    """A run's clone of ``repo`` on branch ``scad-r``, handed to the agent's uid."""
    dest = tmp_path / "run" / "worktrees" / "code"
    dest.parent.mkdir(parents=True)
    await create_clone(repo, dest, "scad-r", owner=agent_owner())
    return dest


GIB = 1024**3


class Disk:
    """What shutil.disk_usage reports, and where it was asked."""

    def __init__(self) -> None:
        self.free = 100 * GIB
        self.asked: list[str] = []

    def __call__(self, path: str | Path) -> shutil._ntuple_diskusage:
        self.asked.append(str(path))
        return shutil._ntuple_diskusage(1000 * GIB, 1000 * GIB - self.free, self.free)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    fake = Disk()
    monkeypatch.setattr(shutil, "disk_usage", fake)
    return fake
