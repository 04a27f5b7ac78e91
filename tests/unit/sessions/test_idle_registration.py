"""Who the gateway tells when a run waits for its user: set when the run is registered,
from its config, for interactive sessions alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.config.loading import parse_config
from scad.config.schema import Config, NotifySettings
from scad.engine._types import ImageInfo
from scad.gateway import load_registration
from scad.home import Home
from scad.sessions.restart import prepare_restart
from scad.sessions.start import prepare_session
from tests.conftest import make_repo
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Home, Config]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("HOME", str(tmp_path / "host-home"))
    repo = make_repo(tmp_path / "repo")
    config = parse_config(
        f"name: p\nrepos:\n  code: {{path: {repo}, workdir: true}}\n"
        "notify: {url: 'http://127.0.0.1:9/hook', idle_seconds: 5}\n",
        label="p.yml",
        base_dir=tmp_path,
    )
    return Home(tmp_path / "home"), config


def engine() -> FakeEngine:
    return FakeEngine(images=[ImageInfo(id="sha256:x", tags=["scad-p:x"], labels={}, created="")])


async def test_an_interactive_session_is_registered_with_its_configs_notifier(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    fake = engine()
    prepared = await prepare_session(fake, home, config, tag="t", image="scad-p:x")
    registration = load_registration(home, prepared.record.run_id)
    assert registration is not None
    assert registration.config == "p"
    assert registration.notify == NotifySettings(url="http://127.0.0.1:9/hook", idle_seconds=5)
    await prepare_restart(fake, home, config, prepared.record, prompt=None, resume=True)
    again = load_registration(home, prepared.record.run_id)
    assert again is not None and again.secret != registration.secret
    assert again.notify == registration.notify


async def test_a_headless_run_is_registered_with_nobody_to_tell(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    fake = engine()
    prepared = await prepare_session(
        fake, home, config, tag="t", prompt="p", headless=True, image="scad-p:x"
    )
    registration = load_registration(home, prepared.record.run_id)
    assert registration is not None and registration.config == "p"
    assert registration.notify is None
    await prepare_restart(fake, home, config, prepared.record, prompt="again", resume=False)
    again = load_registration(home, prepared.record.run_id)
    assert again is not None and again.notify is None
