"""`scad config ...` against a temporary $SCAD_HOME."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scad.config import certificates
from scad.config.loading import load_config
from scad.config.schema import Repo
from tests.conftest import Cli, make_repo

pytestmark = pytest.mark.anyio

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture(autouse=True)
def host_trust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The host's extra CA certificates (none unless a test adds some), and a
    current folder in no git repository."""
    folder = tmp_path / "host-ca"
    folder.mkdir()
    monkeypatch.setattr(certificates, "HOST_CERTIFICATES", folder)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return folder


def external_config(tmp_path: Path, name: str = "proj", repo: Path | None = None) -> Path:
    repo = repo or make_repo(tmp_path / f"{name}-repo")
    path = tmp_path / f"{name}-config.yml"
    path.write_text(f"name: {name}\nrepos:\n  code: {{path: {repo}, workdir: true}}\n")
    return path


async def test_new_writes_a_valid_commented_template(run_cli: Cli, scad_home: Path) -> None:
    result = await run_cli("config", "new", "demo")
    assert result.exit_code == 0
    path = scad_home / "configs" / "demo.yml"
    assert result.stdout == f"created {path}\n"
    assert "# " in path.read_text()
    assert load_config(path).name == "demo"


async def test_new_template_documents_swarm_runs_that_load_once_uncommented(
    run_cli: Cli, scad_home: Path
) -> None:
    await run_cli("config", "new", "demo")
    path = scad_home / "configs" / "demo.yml"
    lines = path.read_text().splitlines(keepends=True)
    start = lines.index("# runs_on: local\n")
    path.write_text("".join([*lines[:start], *(line[2:] for line in lines[start:])]))
    config = load_config(path)
    assert config.runs_on == "local"
    assert config.swarm.manager == "context:lab"
    assert config.swarm.registry == "registry.lan:5000"
    assert config.swarm.placement == ["node.labels.scad==true", "node.role!=manager"]
    assert config.gateway_address == "192.168.1.10"


@pytest.mark.parametrize(
    ("folder", "key"),
    [
        pytest.param("my-proj", "my-proj", id="keyed by its folder"),
        pytest.param("odd #name: [x]", "code", id="a name no key can be"),
    ],
)
async def test_new_fills_in_the_repo_you_stand_in_and_the_hosts_certificates(
    run_cli: Cli,
    scad_home: Path,
    tmp_path: Path,
    host_trust: Path,
    monkeypatch: pytest.MonkeyPatch,
    folder: str,
    key: str,
) -> None:
    repo = make_repo(tmp_path / folder, {"src/app.py": ""})
    (host_trust / "proxy.crt").write_text(PEM)
    (host_trust / "a-key.crt").write_text("-----BEGIN PRIVATE KEY-----\n")  # no certificate
    (host_trust / "notes.txt").write_text(PEM)  # not a .crt: update-ca-certificates skips it
    monkeypatch.chdir(repo / "src")

    result = await run_cli("config", "new", "proj")

    assert result.exit_code == 0, result.output
    path = scad_home / "configs" / "proj.yml"
    assert result.stdout == (
        f"created {path}\n  repo: {repo}\n  CA certificates: {host_trust}/proxy.crt\n"
    )
    config = load_config(path)
    assert config.repos == {key: Repo(path=str(repo), workdir=True)}
    assert config.ca_certificates == [f"{host_trust}/proxy.crt"]


async def test_new_refuses_to_overwrite(run_cli: Cli, scad_home: Path) -> None:
    await run_cli("config", "new", "demo")
    (scad_home / "configs" / "demo.yml").write_text("mine")
    result = await run_cli("config", "new", "demo")
    assert result.exit_code == 2
    assert result.stderr.startswith('scad: error: config "demo" already exists')
    assert (scad_home / "configs" / "demo.yml").read_text() == "mine"


async def test_new_rejects_bad_name(run_cli: Cli, scad_home: Path) -> None:
    result = await run_cli("config", "new", "Bad Name")
    assert result.exit_code == 2
    assert (
        result.stderr
        == 'scad: error: invalid config name "Bad Name": use lowercase letters, digits, "-" and "_"\n'
    )
    assert not (scad_home / "configs").exists()


async def test_new_refuses_the_names_of_batch_commands(run_cli: Cli, scad_home: Path) -> None:
    """``scad batch NAME ...`` runs a config unless NAME is one of batch's commands:
    a config cannot take such a name."""
    from scad.cli.batch import batch
    from scad.names import RESERVED_CONFIG_NAMES

    assert set(batch.lazy) == set(RESERVED_CONFIG_NAMES)
    for name in RESERVED_CONFIG_NAMES:
        result = await run_cli("config", "new", name)
        assert result.exit_code == 2
        assert result.stderr == (
            f'scad: error: invalid config name "{name}": a command of `scad batch` (as are '
            "run, status, watch, stop, resume, retry and report); choose another name\n"
        )
    assert not (scad_home / "configs").exists()


async def test_list_marks_invalid_configs(run_cli: Cli, scad_home: Path, tmp_path: Path) -> None:
    await run_cli("config", "add", str(external_config(tmp_path)))
    (scad_home / "configs" / "broken.yml").write_text("name: broken\nrepos: {}\n")
    result = await run_cli("config", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "FILE"]
    assert lines[1].startswith("broken  invalid: no repos;")
    assert lines[2].split()[:2] == ["proj", "ok"]
    data = json.loads((await run_cli("config", "list", "--json")).stdout)
    assert [(e["name"], e["problem"] is None) for e in data["configs"]] == [
        ("broken", False),
        ("proj", True),
    ]


async def test_list_empty(run_cli: Cli) -> None:
    result = await run_cli("config", "list")
    assert result.stdout == "no configs yet; create one with `scad config new NAME`\n"


async def test_add_registers_a_link_and_refuses_a_clash(
    run_cli: Cli, scad_home: Path, tmp_path: Path
) -> None:
    source = external_config(tmp_path)
    result = await run_cli("config", "add", str(source))
    assert result.exit_code == 0
    link = scad_home / "configs" / "proj.yml"
    assert link.is_symlink() and link.resolve() == source.resolve()
    clash = await run_cli("config", "add", str(source))
    assert clash.exit_code == 2
    assert clash.stderr == (
        f'scad: error: a config named "proj" is already registered ({link}); '
        "remove it first with `scad config remove proj`\n"
    )


async def test_add_refuses_a_repo_that_does_not_exist(
    run_cli: Cli, scad_home: Path, tmp_path: Path
) -> None:
    source = external_config(tmp_path, repo=tmp_path / "gone")
    result = await run_cli("config", "add", str(source))
    assert (result.exit_code, result.stderr) == (
        2,
        f"scad: error: proj-config.yml: repos.code.path: {tmp_path / 'gone'} does not exist; "
        "fix the path\n",
    )
    assert not (scad_home / "configs" / "proj.yml").exists()


async def test_add_missing_file(run_cli: Cli, tmp_path: Path) -> None:
    result = await run_cli("config", "add", str(tmp_path / "nope.yml"))
    assert result.exit_code == 2
    assert result.stderr == "scad: error: nope.yml: file not found\n"


async def test_view_prints_the_file(run_cli: Cli, scad_home: Path) -> None:
    await run_cli("config", "new", "demo")
    result = await run_cli("config", "view", "demo")
    assert result.stdout == (scad_home / "configs" / "demo.yml").read_text()


async def test_unknown_config_suggests_close_names(run_cli: Cli, tmp_path: Path) -> None:
    await run_cli("config", "add", str(external_config(tmp_path)))
    result = await run_cli("config", "info", "prj")
    assert result.exit_code == 2
    assert result.stderr == 'scad: error: no config named "prj"; did you mean proj?\n'


async def test_remove_link_keeps_the_target(run_cli: Cli, scad_home: Path, tmp_path: Path) -> None:
    source = external_config(tmp_path)
    await run_cli("config", "add", str(source))
    result = await run_cli("config", "remove", "proj")
    assert result.exit_code == 0
    assert result.stdout == f"unregistered proj (kept {source.resolve()})\n"
    assert source.exists()
    assert not (scad_home / "configs" / "proj.yml").exists()


async def test_remove_owned_file_needs_yes(run_cli: Cli, scad_home: Path) -> None:
    await run_cli("config", "new", "demo")
    path = scad_home / "configs" / "demo.yml"
    refused = await run_cli("config", "remove", "demo")
    assert refused.exit_code == 2
    assert (
        refused.stderr
        == f"scad: error: {path} is scad's own copy and would be deleted; pass --yes to confirm\n"
    )
    assert path.exists()
    done = await run_cli("config", "remove", "demo", "--yes")
    assert done.exit_code == 0
    assert not path.exists()


async def test_edit_validates_and_keeps_a_broken_file(
    run_cli: Cli, scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await run_cli("config", "new", "demo")
    editor = tmp_path / "editor.sh"
    editor.write_text(
        '#!/bin/sh\nprintf "name: demo\\nrepos: {c: {path: ., workdir: maybe}}\\n" > "$1"\n'
    )
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    result = await run_cli("config", "edit", "demo")
    assert result.exit_code == 2
    assert (
        result.stderr
        == "scad: error: demo.yml: repos.c.workdir: expected true or false, got a string\n"
    )
    assert "maybe" in (scad_home / "configs" / "demo.yml").read_text()


async def test_info_reports_repos_and_mounts(
    run_cli: Cli, scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    repo = make_repo(tmp_path / "code")
    (repo / "new.txt").write_text("x")
    (tmp_path / "data").mkdir()
    # A repo that went away after the config was registered (`add` refuses one).
    (scad_home / "configs").mkdir(parents=True)
    (scad_home / "configs" / "proj.yml").write_text(
        f"name: proj\nrepos:\n  code: {{path: {repo}, workdir: true}}\n  gone: {{path: {tmp_path}/gone}}\n"
        f"mounts: [{{host: {tmp_path}/data, container: /data}}]\n"
    )
    result = await run_cli("config", "info", "proj", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert [(r["key"], r["branch"], r["dirty"], r["problem"]) for r in info["repos"]] == [
        ("code", "main", True, None),
        ("gone", None, None, "does not exist"),
    ]
    assert info["mounts"] == [{"host": f"{tmp_path}/data", "container": "/data", "exists": True}]
    assert info["image"].startswith("scad-proj-")  # this home's repository of the config
    assert info["image_built"] is None
    text = (await run_cli("config", "info", "proj")).stdout
    assert "unknown (engine unreachable)" in text
    assert "main, dirty" in text
    assert os.environ["DOCKER_HOST"].endswith("no-engine.sock")


async def test_info_shows_an_image_that_cannot_be_built(
    run_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    repo = make_repo(tmp_path / "code")
    path = tmp_path / "proj.yml"
    path.write_text(
        f"name: proj\nrepos: {{code: {{path: {repo}, workdir: true}}}}\npython: {{requirements: req.txt}}\n"
    )
    await run_cli("config", "add", str(path))
    info = json.loads((await run_cli("config", "info", "proj", "--json")).stdout)
    problem = f"python.requirements: {repo}/req.txt not found; fix the path in the config"
    assert (info["image"], info["image_built"], info["image_problem"]) == (None, None, problem)
    text = (await run_cli("config", "info", "proj")).stdout
    assert f"image    cannot be built: {problem}; base python:3.11-slim" in text


async def test_view_of_a_link_whose_file_is_gone(
    run_cli: Cli, scad_home: Path, tmp_path: Path
) -> None:
    source = external_config(tmp_path)
    await run_cli("config", "add", str(source))
    source.unlink()
    result = await run_cli("config", "view", "proj")
    assert (result.exit_code, result.stderr) == (
        2,
        "scad: error: proj.yml: cannot read: No such file or directory\n",
    )


async def test_view_edit_and_remove_suggest_close_names(run_cli: Cli, tmp_path: Path) -> None:
    await run_cli("config", "add", str(external_config(tmp_path)))
    for command in ("view", "edit", "remove"):
        result = await run_cli("config", command, "prj")
        assert (result.exit_code, result.stderr) == (
            2,
            'scad: error: no config named "prj"; did you mean proj?\n',
        )
