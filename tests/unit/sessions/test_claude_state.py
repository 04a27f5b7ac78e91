"""Writing a run's Claude state: settings, seeded state, and credentials as private files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from scad.config.loading import parse_config
from scad.home import Home
from scad.runs.records import RunPaths
from scad.sessions.claude_state import refresh_credentials, write_claude_state
from scad.sessions.credentials import HostCredentials
from scad.sessions.gateway_access import ModelAccess
from tests.unit.planted_nodes import NODES, Opens, PlantNode

ACCESS = ModelAccess(base_url="http://172.17.0.1:4000", token="r.run-token")


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


def test_a_run_holds_the_gateways_address_and_its_token_only(
    tmp_path: Path, paths: RunPaths
) -> None:
    write_claude_state(config(tmp_path), paths, ACCESS, owner=None)
    assert (paths.inputs / "credentials.env").read_text() == (
        "ANTHROPIC_BASE_URL=http://172.17.0.1:4000\nANTHROPIC_AUTH_TOKEN=r.run-token\n"
    )
    assert mode(paths.inputs / "credentials.env") == 0o600
    assert mode(paths.claude_json) == 0o600
    assert "customApiKeyResponses" not in json.loads(paths.claude_json.read_text())
    assert json.loads((paths.claude_dir / "settings.json").read_text())["attribution"] == {
        "commit": "",
        "pr": "",
    }
    assert (paths.claude_dir / "CLAUDE.md").read_text() == "be brief\n"
    assert not (paths.claude_dir / ".credentials.json").exists()


def test_a_run_made_before_the_gateway_loses_its_copy_of_the_login(
    tmp_path: Path, paths: RunPaths
) -> None:
    source = tmp_path / "creds.json"
    source.write_bytes(oauth(1_000))
    credentials = HostCredentials(method="credentials-file", credentials_file=str(source))
    paths.claude_dir.mkdir()
    paths.inputs.mkdir()
    refresh_credentials(paths, credentials, owner=None)
    copy = paths.claude_dir / ".credentials.json"
    assert copy.read_bytes() == source.read_bytes() and mode(copy) == 0o600
    assert write_claude_state(config(tmp_path), paths, ACCESS, owner=None) == []
    assert not copy.exists() and source.exists()


def test_claudes_own_state_survives_a_rewrite(tmp_path: Path, paths: RunPaths) -> None:
    credentials = ACCESS
    write_claude_state(config(tmp_path), paths, credentials, owner=None)
    state = json.loads(paths.claude_json.read_text())
    paths.claude_json.write_text(json.dumps({**state, "numStartups": 7}))
    write_claude_state(config(tmp_path), paths, credentials, owner=None)
    assert json.loads(paths.claude_json.read_text())["numStartups"] == 7


def oauth(expires_ms: int, refresh: str = "r") -> bytes:
    return json.dumps(
        {"claudeAiOauth": {"accessToken": "a", "refreshToken": refresh, "expiresAt": expires_ms}}
    ).encode()


def test_a_run_made_before_the_gateway_keeps_credentials_it_refreshed_itself(
    tmp_path: Path, paths: RunPaths
) -> None:
    source = tmp_path / "creds.json"
    source.write_bytes(oauth(1_000))
    credentials = HostCredentials(method="credentials-file", credentials_file=str(source))
    paths.claude_dir.mkdir()
    paths.inputs.mkdir()
    refresh_credentials(paths, credentials, owner=None)
    copy = paths.claude_dir / ".credentials.json"
    copy.write_bytes(oauth(2_000, refresh="rotated"))  # Claude refreshed inside the run

    notes = refresh_credentials(paths, credentials, owner=None).notes
    assert copy.read_bytes() == oauth(2_000, refresh="rotated")
    assert notes == [
        "kept the run's own OAuth credentials: they were refreshed inside the run "
        "and are newer than the host's"
    ]
    source.write_bytes(oauth(3_000, refresh="host-newer"))  # the host logged in again
    assert refresh_credentials(paths, credentials, owner=None).notes == []
    assert copy.read_bytes() == oauth(3_000, refresh="host-newer")


# What an agent can leave in its claude/ folder or claude.json; every case must
# leave files outside the run untouched and end in a usable state with a note.
OUTSIDE = "outside.txt"


def plant_link(paths: RunPaths, name: str, target: Path) -> None:
    entry = paths.root / name
    entry.unlink(missing_ok=True)
    entry.symlink_to(target)


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("claude/.credentials.json", id="credentials"),
        pytest.param("claude/settings.json", id="settings"),
        pytest.param("claude/CLAUDE.md", id="claude-md"),
        pytest.param("claude.json", id="claude-json"),
    ],
)
@pytest.mark.parametrize("target", ["outside", "events", "folder"])
def test_a_planted_link_is_replaced_never_written_through(
    tmp_path: Path, paths: RunPaths, entry: str, target: str
) -> None:
    credentials = ACCESS
    write_claude_state(config(tmp_path), paths, credentials, owner=None)
    victim = {
        "outside": tmp_path / OUTSIDE,
        "events": paths.events,
        "folder": tmp_path / "outside-folder",
    }[target]
    if target == "folder":
        victim.mkdir()
    else:
        victim.write_text("precious\n")
    before = os.stat(victim)
    plant_link(paths, entry, victim)

    notes = write_claude_state(config(tmp_path), paths, credentials, owner=None)
    after = os.stat(victim)
    assert (after.st_uid, after.st_mode, after.st_mtime_ns) == (
        before.st_uid,
        before.st_mode,
        before.st_mtime_ns,
    )
    if target == "folder":
        assert list(victim.iterdir()) == []
    else:
        assert victim.read_text() == "precious\n"
    planted = paths.root / entry
    if entry == "claude/.credentials.json":  # a gateway run holds no login: it goes
        assert not planted.is_symlink() and not planted.exists()
    else:
        assert not planted.is_symlink() and planted.is_file()
    assert all("precious" not in note for note in notes)


def test_a_fifo_or_huge_claude_json_is_replaced_without_hanging(
    tmp_path: Path, paths: RunPaths
) -> None:
    credentials = ACCESS
    write_claude_state(config(tmp_path), paths, credentials, owner=None)
    paths.claude_json.unlink()
    os.mkfifo(paths.claude_json)
    started = time.monotonic()
    notes = write_claude_state(config(tmp_path), paths, credentials, owner=None)
    assert notes == ["could not read claude.json: is not a regular file"]
    assert json.loads(paths.claude_json.read_text())["hasCompletedOnboarding"] is True

    with open(paths.claude_json, "r+b") as f:
        f.truncate(1 << 30)  # sparse: a gigabyte that costs no disk
    notes = write_claude_state(config(tmp_path), paths, credentials, owner=None)
    assert notes == [
        f"could not read claude.json: is {1 << 30} bytes, over the {4 << 20}-byte bound"
    ]
    assert time.monotonic() - started < 60  # a bound on hanging, not a timing claim
    assert paths.claude_json.stat().st_size < 10_000


@pytest.mark.parametrize("plant", NODES)
def test_a_device_or_fifo_at_claude_json_is_never_opened_and_is_replaced(
    tmp_path: Path, paths: RunPaths, monkeypatch: pytest.MonkeyPatch, plant: PlantNode
) -> None:
    write_claude_state(config(tmp_path), paths, ACCESS, owner=None)
    paths.claude_json.unlink()
    opens = Opens(plant(paths.claude_json), monkeypatch)
    notes = write_claude_state(config(tmp_path), paths, ACCESS, owner=None)
    assert notes == ["could not read claude.json: is not a regular file"]
    assert opens.flags and opens.for_io == []
    assert json.loads(paths.claude_json.read_text())["hasCompletedOnboarding"] is True


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b'{"projects": [1], "customApiKeyResponses": 7}', id="wrong-shapes"),
        pytest.param(b'{"projects": {"/workspace/c": "x"}}', id="wrong-entry"),
    ],
)
def test_malformed_claude_json_becomes_a_fresh_one(
    tmp_path: Path, paths: RunPaths, content: bytes
) -> None:
    credentials = ACCESS
    write_claude_state(config(tmp_path), paths, credentials, owner=None)
    paths.claude_json.write_bytes(content)
    write_claude_state(config(tmp_path), paths, credentials, owner=None)
    state = json.loads(paths.claude_json.read_text())
    assert state["projects"]["/workspace/c"]["hasTrustDialogAccepted"] is True


def test_a_folder_in_place_of_settings_is_moved_aside(tmp_path: Path, paths: RunPaths) -> None:
    credentials = ACCESS
    write_claude_state(config(tmp_path), paths, credentials, owner=None)
    settings = paths.claude_dir / "settings.json"
    settings.unlink()
    (settings / "kept").mkdir(parents=True)
    notes = write_claude_state(config(tmp_path), paths, credentials, owner=None)
    assert settings.is_file()
    (aside,) = [
        p for p in paths.claude_dir.iterdir() if p.name.startswith("settings.json.scad-aside-")
    ]
    assert (aside / "kept").is_dir()
    assert notes == [f"settings.json was a folder; moved aside to {aside.name}"]


@pytest.mark.skipif(os.getuid() != 0, reason="only root can give files to another user")
def test_as_root_only_what_scad_made_is_given_to_the_agent(tmp_path: Path, paths: RunPaths) -> None:
    credentials = ACCESS
    write_claude_state(config(tmp_path), paths, credentials, owner=(1000, 1000))
    victim = tmp_path / OUTSIDE
    victim.write_text("root's\n")
    plant_link(paths, "claude/.credentials.json", victim)
    plant_link(paths, "claude.json", victim)
    write_claude_state(config(tmp_path), paths, credentials, owner=(1000, 1000))
    assert os.stat(victim).st_uid == 0 and victim.read_text() == "root's\n"
    assert not (paths.claude_dir / ".credentials.json").exists()
    assert paths.claude_json.lstat().st_uid == 1000 and mode(paths.claude_json) == 0o600


@pytest.mark.anyio
async def test_refreshing_a_cleaned_session_is_one_line(tmp_path: Path) -> None:
    from scad.errors import SessionError
    from scad.home import Home
    from scad.runs.records import RunRecord
    from scad.sessions import refresh_session
    from tests.fakes import FakeEngine

    record = RunRecord(run_id="r", config="p", tag="t", mode="headless", image="i",
                       branch="scad-r", created="2026-11-27T00:00:00.000Z", repos={},
                       cleaned="2026-11-27T01:00:00.000Z")  # fmt: skip
    with pytest.raises(SessionError, match=r"^r was cleaned; there is nothing to refresh$"):
        await refresh_session(FakeEngine(), Home(tmp_path), record)


def test_a_fenced_run_is_told_the_proxy_and_reaches_the_gateway_directly(
    tmp_path: Path, paths: RunPaths
) -> None:
    proxy = "http://run:r.run-token@172.18.0.1:4001"
    fenced = ModelAccess(base_url="http://172.18.0.1:4000", token="r.run-token", proxy=proxy)
    write_claude_state(config(tmp_path), paths, fenced, owner=None)
    assert (paths.inputs / "credentials.env").read_text() == (
        "ANTHROPIC_BASE_URL=http://172.18.0.1:4000\nANTHROPIC_AUTH_TOKEN=r.run-token\n"
        + "".join(
            f"{name}={proxy}\n"
            for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")
        )
        + "NO_PROXY=172.18.0.1\nno_proxy=172.18.0.1\n"
    )
    assert "run-token" not in repr(fenced)
    assert (paths.inputs / "resolv.conf").read_text().endswith("\nnameserver 127.0.0.1\n")
