"""Fixtures several unit test modules share: a temporary folder of their own, a clone,
a fake disk."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from scad.code.clones import create_clone
from scad.gateway import GatewayInfo
from scad.home import Home
from scad.layout import agent_owner


@pytest.fixture(autouse=True)
def system_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder, as gc and ccusage see it: one of the test's own,
    so what other processes leave in the machine's /tmp never reaches a unit test."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


class FakeGateways:
    """The home's gateway as runs are wired to it, without a process: the addresses
    each start asked it to listen on."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    async def __call__(
        self, home: Home, *, addresses: Sequence[str] = (), environ: object = None
    ) -> GatewayInfo:
        self.asked.append(list(addresses))
        return GatewayInfo(
            pid=0, port=4000, addresses=["127.0.0.1", *addresses], started="", credential=None
        )


@pytest.fixture(autouse=True)
def gateways(monkeypatch: pytest.MonkeyPatch) -> FakeGateways:
    """Sessions reach a gateway that is no process of its own in unit tests."""
    fake = FakeGateways()
    monkeypatch.setattr("scad.sessions.gateway_access.ensure_gateway", fake)
    monkeypatch.setattr("scad.doctor._gateway.ensure_gateway", fake)
    monkeypatch.setattr("scad.doctor._containers.ensure_gateway", fake)
    return fake


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
