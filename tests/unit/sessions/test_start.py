"""Writing a run's Claude state: settings, seeded state, and credentials as private files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scad.config import parse_config
from scad.credentials import HostCredentials
from scad.home import Home
from scad.runs import RunPaths
from scad.sessions.start import write_claude_state


@pytest.fixture
def paths(tmp_path: Path) -> RunPaths:
    paths = RunPaths(Home(tmp_path / "home"), "r")
    paths.root.mkdir(parents=True)
    return paths


def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "notes.md").write_text("be brief\n")
    return parse_config(
        "name: p\nrepos: {c: {path: ., workdir: true}}\nclaude: {claude_md: notes.md}\n",
        label="p.yml",
        base_dir=tmp_path,
    )


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_api_key(tmp_path: Path, paths: RunPaths) -> None:
    write_claude_state(
        config(tmp_path),
        paths,
        HostCredentials(method="api-key", api_key="sk-" + "a" * 30),
        owner=None,
    )
    assert (paths.inputs / "credentials.env").read_text() == f"ANTHROPIC_API_KEY=sk-{'a' * 30}\n"
    assert mode(paths.inputs / "credentials.env") == 0o600
    assert mode(paths.claude_json) == 0o600
    state = json.loads(paths.claude_json.read_text())
    assert state["customApiKeyResponses"]["approved"] == ["a" * 20]
    assert json.loads((paths.claude_dir / "settings.json").read_text())["attribution"] == {
        "commit": "",
        "pr": "",
    }
    assert (paths.claude_dir / "CLAUDE.md").read_text() == "be brief\n"
    assert not (paths.claude_dir / ".credentials.json").exists()


def test_oauth_token(tmp_path: Path, paths: RunPaths) -> None:
    write_claude_state(
        config(tmp_path),
        paths,
        HostCredentials(method="oauth-token", oauth_token="tok en"),
        owner=None,
    )
    assert (paths.inputs / "credentials.env").read_text() == "CLAUDE_CODE_OAUTH_TOKEN='tok en'\n"
    assert "customApiKeyResponses" not in json.loads(paths.claude_json.read_text())


def test_credentials_file_is_copied_per_run(tmp_path: Path, paths: RunPaths) -> None:
    source = tmp_path / "creds.json"
    source.write_text('{"claudeAiOauth": {"accessToken": "x"}}')
    credentials = HostCredentials(method="credentials-file", credentials_file=str(source))
    write_claude_state(config(tmp_path), paths, credentials, owner=None)
    copy = paths.claude_dir / ".credentials.json"
    assert copy.read_text() == source.read_text() and mode(copy) == 0o600
    assert (paths.inputs / "credentials.env").read_text() == ""


def test_claudes_own_state_survives_a_rewrite(tmp_path: Path, paths: RunPaths) -> None:
    credentials = HostCredentials(method="api-key", api_key="k" * 30)
    write_claude_state(config(tmp_path), paths, credentials, owner=None)
    state = json.loads(paths.claude_json.read_text())
    paths.claude_json.write_text(json.dumps({**state, "numStartups": 7}))
    write_claude_state(config(tmp_path), paths, credentials, owner=None)
    assert json.loads(paths.claude_json.read_text())["numStartups"] == 7
