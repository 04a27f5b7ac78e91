"""A session's own budget: kept in its record, given to the gateway before its
container starts, and kept when the session is resumed."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.config.loading import parse_config
from scad.config.schema import Config
from scad.engine._types import ContainerSpec, ImageInfo
from scad.gateway import load_registration
from scad.home import Home
from scad.runs.records import load_run
from scad.sessions import resume_session, start_session
from tests.conftest import make_repo
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Home, Config]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("HOME", str(tmp_path / "host-home"))
    repo = make_repo(tmp_path / "repo")
    config = parse_config(
        f"name: p\nrepos:\n  code: {{path: {repo}, workdir: true}}\n",
        label="p.yml",
        base_dir=tmp_path,
    )
    return Home(tmp_path / "home"), config


class Registered(FakeEngine):
    """An engine that notes the run's gateway budget at the moment its container is made."""

    def __init__(self, home: Home) -> None:
        super().__init__(
            images=[ImageInfo(id="sha256:x", tags=["scad-p:x"], labels={}, created="")]
        )
        self.home = home
        self.budgets: list[float | None] = []

    async def create_container(self, spec: ContainerSpec) -> str:
        registration = load_registration(self.home, spec.labels["scad.run"])
        self.budgets.append(registration.max_usd if registration else None)
        return await super().create_container(spec)


async def test_a_session_budget_reaches_the_gateway_before_its_container_and_outlives_a_resume(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    engine = Registered(home)
    record = await start_session(
        engine, home, config, tag="t", prompt="p", headless=True, image="scad-p:x",
        max_usd_per_run=0.25,
    )  # fmt: skip
    assert load_run(home, record.run_id).max_usd_per_run == 0.25
    assert engine.budgets == [0.25]
    first = load_registration(home, record.run_id)
    assert first is not None
    for container in engine.made.values():  # the run ended
        container.status, container.exit_code = "exited", 0
    resumed = await resume_session(engine, home, config, record, prompt="again")
    assert engine.budgets == [0.25, 0.25]
    again = load_registration(home, record.run_id)
    assert again is not None and again.secret != first.secret  # a new token, the same budget
    assert resumed.record.max_usd_per_run == 0.25


async def test_a_session_without_a_budget_has_none(project: tuple[Home, Config]) -> None:
    home, config = project
    engine = Registered(home)
    record = await start_session(
        engine, home, config, tag="t", prompt="p", headless=True, image="scad-p:x"
    )
    assert record.max_usd_per_run is None
    assert engine.budgets == [None]
