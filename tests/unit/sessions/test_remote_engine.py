"""Runs on an engine on another host: refused in one line, before anything is made,
when they cannot go there; their container mounts nothing and holds its token only in
a file of its user's."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from scad.config.loading import parse_config
from scad.config.schema import Config
from scad.engine._endpoint import Endpoint
from scad.engine._types import ContainerFile
from scad.engine._wire import file_archive
from scad.errors import SessionError, UsageError
from scad.home import Home
from scad.runs.records import RunPaths, RunRecord
from scad.sessions.container import run_container_spec
from scad.sessions.remote_engine import TOKEN_PATH, remote_container_spec
from scad.sessions.restart import prepare_restart
from scad.sessions.start import prepare_session
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio

FAR = Endpoint(host="tcp://far.lan:2376", origin="DOCKER_HOST")
TOKEN = "scad-run-0123456789abcdef0123456789abcdef"


def make_config(tmp_path: Path, extra: str = "gateway_address: 10.0.0.5\n") -> Config:
    repo = tmp_path / "repo"
    if not repo.exists():
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
             "commit", "-q", "--allow-empty", "-m", "base"],
            check=True,
        )  # fmt: skip
    return parse_config(
        f"name: p\nrepos:\n  code: {{path: {repo}, workdir: true}}\n" + extra,
        label="p.yml",
        base_dir=tmp_path,
    )


def record_of(mode: str = "headless", runs_on: str = "local") -> RunRecord:
    return RunRecord(
        run_id="p-t-Nov27-1000", config="p", tag="t", mode=mode, image="scad-p:abc",
        branch="scad-p-t-Nov27-1000", created="2026-11-27T10:00:00.000Z", repos={},
        runs_on=runs_on,  # type: ignore[arg-type]
    )  # fmt: skip


def test_an_engine_over_tcp_or_ssh_is_remote_a_socket_is_not() -> None:
    assert FAR.remote and Endpoint(host="ssh://me@far").remote
    assert not Endpoint(host="unix:///var/run/docker.sock").remote


def test_the_remote_container_mounts_nothing_and_shows_no_token(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    config = make_config(tmp_path, "gateway_address: 10.0.0.5\nnetwork: host\n")
    record = record_of()
    local = run_container_spec(
        config, record, RunPaths(Home(tmp_path / "home"), record.run_id),
        user=(1000, 1001), timezone="UTC", claude_args=["-p", "--verbose"],
    )  # fmt: skip
    env = {"SCAD_GATEWAY": "http://10.0.0.5:7000", "SCAD_TOKEN_FILE": TOKEN_PATH}
    spec = remote_container_spec(local, env=env, token=TOKEN)
    assert spec.mounts == [] and spec.workdir is None
    assert spec.command == ["scad-remote-run", "-p", "--verbose"]
    assert spec.env == {**local.env, **env}
    assert (spec.user, spec.network, spec.labels) == (local.user, "host", local.labels)
    assert (spec.limits, spec.security) == (local.limits, local.security)
    shown = repr(spec) + str(spec.env) + str(spec.labels) + str(spec.command)
    assert TOKEN not in shown
    assert spec.files == [
        ContainerFile(path=TOKEN_PATH, data=TOKEN.encode(), uid=1000, gid=1001, mode=0o400)
    ]


def test_a_file_goes_into_a_container_as_a_tar_of_its_owner_and_mode() -> None:
    folder, data = file_archive(
        ContainerFile(path="/run/scad-token", data=b"secret", uid=1000, gid=1001, mode=0o400)
    )
    assert folder == "/run"
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        (entry,) = archive.getmembers()
        assert (entry.name, entry.uid, entry.gid, entry.mode) == ("scad-token", 1000, 1001, 0o400)
        assert entry.isfile() and archive.extractfile(entry).read() == b"secret"  # type: ignore[union-attr]


def test_a_file_path_that_is_not_absolute_is_refused() -> None:
    with pytest.raises(ValueError):
        file_archive(ContainerFile(path="scad-token", data=b""))


REFUSED = [
    pytest.param(
        "",
        "p: runs on the remote engine at tcp://far.lan:2376 (DOCKER_HOST) need gateway_address, "
        "the address of this host that its containers reach; add `gateway_address: IP` to the "
        "config (`scad config edit p`)",
        id="no-gateway-address",
    ),
    pytest.param(
        "gateway_address: 10.0.0.5\negress: {mode: gateway}\n",
        "p: a fenced config (egress.mode: gateway) runs locally only",
        id="fenced",
    ),
    pytest.param(
        "gateway_address: 10.0.0.5\nmounts: [{host: data, container: /data}]\n",
        "p: mounts[0] ({tmp}/data) is a folder of this host, which runs on the remote engine "
        "at tcp://far.lan:2376 (DOCKER_HOST) cannot see; remove it from the config to run there",
        id="mount",
    ),
    pytest.param(
        "gateway_address: 10.0.0.5\nclaude: {marketplaces: {mine: {path: market}}}\n",
        "p: claude.marketplaces.mine ({tmp}/market) is a folder of this host, which runs on the "
        "remote engine at tcp://far.lan:2376 (DOCKER_HOST) cannot see; name it by github: or "
        "git: instead",
        id="marketplace-folder",
    ),
    pytest.param(
        "gateway_address: 10.0.0.5\nchecks: [{name: t, run: 'true'}]\n",
        "p: checks run in a container with a checkout of this host mounted, which runs on the "
        "remote engine at tcp://far.lan:2376 (DOCKER_HOST) cannot see; remove checks: to run there",
        id="checks",
    ),
    pytest.param(
        "gateway_address: 10.0.0.5\nnetwork: none\n",
        "p: runs on the remote engine at tcp://far.lan:2376 (DOCKER_HOST) reach their files "
        "through the gateway; network: none cannot",
        id="network-none",
    ),
]


@pytest.mark.parametrize(("extra", "message"), REFUSED)
async def test_a_run_that_cannot_go_to_the_remote_engine_is_one_line_and_makes_nothing(
    tmp_path: Path, extra: str, message: str
) -> None:
    (tmp_path / "data").mkdir()
    market = tmp_path / "market" / ".claude-plugin"
    market.mkdir(parents=True)
    (market / "marketplace.json").write_text("{}")
    config = make_config(tmp_path, extra)
    engine = FakeEngine(endpoint=FAR)
    home = Home(tmp_path / "home")
    with pytest.raises(UsageError) as refused:
        await prepare_session(
            engine, home, config, tag="t", prompt="hi", headless=True, image="scad-p:abc"
        )
    assert str(refused.value) == message.format(tmp=os.path.realpath(tmp_path))
    assert not home.runs.exists() and engine.made == {}


async def test_an_interactive_session_on_a_remote_engine_is_refused(tmp_path: Path) -> None:
    engine = FakeEngine(endpoint=FAR)
    home = Home(tmp_path / "home")
    with pytest.raises(UsageError) as refused:
        await prepare_session(engine, home, make_config(tmp_path), tag="t", image="scad-p:abc")
    assert str(refused.value) == (
        "a run on a remote engine is headless (no terminal reaches it): add --headless"
    )
    assert not home.runs.exists()


async def test_a_run_made_on_this_host_is_not_started_again_on_a_remote_engine(
    tmp_path: Path,
) -> None:
    engine = FakeEngine(endpoint=FAR)
    with pytest.raises(SessionError) as refused:
        await prepare_restart(
            engine, Home(tmp_path / "home"), make_config(tmp_path), record_of(),
            prompt="again", resume=False,
        )  # fmt: skip
    assert str(refused.value) == (
        "p-t-Nov27-1000 ran on this host's engine, where its clones are; point DOCKER_HOST "
        "(or the Docker context) back at it to start it again, not at tcp://far.lan:2376 "
        "(DOCKER_HOST)"
    )


async def test_a_run_on_a_swarm_is_refused_a_folder_of_this_host_too(tmp_path: Path) -> None:
    """A mount reaches no node either: it was left out of the service without a word."""
    (tmp_path / "data").mkdir()
    config = make_config(
        tmp_path,
        "gateway_address: 10.0.0.5\nswarm: {registry: 'registry.lan:5000'}\n"
        "mounts: [{host: data, container: /data}]\n",
    )
    home = Home(tmp_path / "home")
    with pytest.raises(UsageError) as refused:
        await prepare_session(
            FakeEngine(), home, config, tag="t", prompt="hi", headless=True,
            image="scad-p:abc", on="swarm",
        )  # fmt: skip
    assert str(refused.value) == (
        f"p: mounts[0] ({os.path.realpath(tmp_path)}/data) is a folder of this host, which "
        "runs on a swarm cannot see; remove it from the config to run there"
    )
    assert not home.runs.exists()
