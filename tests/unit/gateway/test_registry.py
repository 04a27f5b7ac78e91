"""Run tokens: made per run, opened only by their own run, revoked, never through a link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from scad.errors import NotFound, UsageError
from scad.gateway._registry import (
    check_token,
    load_registration,
    register_run,
    revoke_run,
    upstream_of,
)
from scad.home import Home


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    for run_id in ("run-a", "run-b"):
        home.run_dir(run_id).mkdir(parents=True)
    return home


def test_a_token_opens_its_own_run_and_no_other(home: Home) -> None:
    a = register_run(home, "run-a", max_usd=1.5, batch="b1", batch_max_usd=3.0)
    b = register_run(home, "run-b")
    assert check_token(home, a.token) == a
    assert check_token(home, b.token) == b
    # b's secret under a's name, and a's under b's: neither opens anything.
    assert check_token(home, f"run-a.{b.secret}") is None
    assert check_token(home, f"run-b.{a.secret}") is None
    assert check_token(home, "run-a." + "x" * 43) is None
    assert check_token(home, a.token + "x") is None


def test_the_token_file_is_private_and_outside_what_containers_mount(home: Home) -> None:
    registration = register_run(home, "run-a")
    folder = home.run_dir("run-a") / "gateway"
    info = os.stat(folder / "registration.json")
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert registration.secret is not None and len(registration.secret) >= 43
    assert registration.secret not in repr(registration)


def test_revoked_tokens_stop_working_and_the_run_keeps_its_registration(home: Home) -> None:
    registration = register_run(home, "run-a", batch="b1")
    revoke_run(home, "run-a")
    assert check_token(home, registration.token) is None
    kept = load_registration(home, "run-a")
    assert kept is not None and kept.secret is None and kept.batch == "b1" and kept.revoked
    with pytest.raises(UsageError, match="revoked"):
        _ = kept.token
    revoke_run(home, "run-b")  # never registered: nothing to do


def test_registering_again_replaces_the_token(home: Home) -> None:
    first = register_run(home, "run-a")
    second = register_run(home, "run-a")
    assert check_token(home, first.token) is None
    assert check_token(home, second.token) == second


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param("", id="empty"),
        pytest.param("no-dot-at-all", id="no-dot"),
        pytest.param("../run-a.secretsecretsecretsecretsecret", id="climbs"),
        pytest.param("run-a/../run-a.secretsecretsecretsecret", id="slash"),
        pytest.param("run-c.secretsecretsecretsecretsecret", id="unknown-run"),
    ],
)
def test_malformed_tokens_open_nothing(home: Home, presented: str) -> None:
    register_run(home, "run-a")
    assert check_token(home, presented) is None


def test_a_linked_gateway_folder_or_file_is_not_followed(home: Home, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    registration = register_run(home, "run-b")
    os.rename(home.run_dir("run-b") / "gateway", elsewhere)
    (home.run_dir("run-b") / "gateway").symlink_to(elsewhere)
    assert check_token(home, registration.token) is None
    with pytest.raises(NotFound, match="symbolic link"):
        register_run(home, "run-b")
    (home.run_dir("run-b") / "gateway").unlink()
    (home.run_dir("run-b") / "gateway").mkdir()
    (home.run_dir("run-b") / "gateway" / "registration.json").symlink_to(
        elsewhere / "registration.json"
    )
    assert check_token(home, registration.token) is None


def test_a_run_without_a_folder_cannot_be_registered(home: Home) -> None:
    with pytest.raises(NotFound):
        register_run(home, "run-z")


def test_the_upstream_is_the_configs_base_url_or_anthropics() -> None:
    assert upstream_of({}) == "https://api.anthropic.com"
    assert upstream_of({"ANTHROPIC_BASE_URL": "http://127.0.0.1:8765/"}) == "http://127.0.0.1:8765"
    with pytest.raises(UsageError):
        upstream_of({"ANTHROPIC_BASE_URL": "file:///etc/passwd"})


def test_a_runs_budget_is_set_on_its_registration_and_its_token_kept(home: Home) -> None:
    from scad.gateway._registry import limit_run

    token = register_run(home, "run-a").token
    limited = limit_run(home, "run-a", max_usd=0.5, batch="b-1", batch_max_usd=2.0)
    assert limited is not None and limited.token == token
    loaded = load_registration(home, "run-a")
    assert loaded is not None
    assert (loaded.max_usd, loaded.batch, loaded.batch_max_usd) == (0.5, "b-1", 2.0)
    assert check_token(home, token) == loaded


def test_a_run_made_before_the_gateway_has_no_budget_to_set(home: Home) -> None:
    from scad.gateway._registry import limit_run

    assert limit_run(home, "run-a", max_usd=0.5) is None
    assert load_registration(home, "run-a") is None
