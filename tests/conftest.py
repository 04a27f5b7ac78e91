"""Shared fixtures: an isolated $SCAD_HOME, git repos, and the CLI runner."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from asyncclick.testing import CliRunner, Result

from scad.cli import cli
from scad.cli._app import Application, EngineFactory
from scad.engine import Engine
from scad.home import Home

CERT_DIR = Path("/usr/local/share/ca-certificates")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiodocker runs on asyncio only


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
