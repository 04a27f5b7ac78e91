"""Batch commands that fail before anything starts: one line, exit 2, nothing made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli, make_repo

pytestmark = pytest.mark.anyio


@pytest.fixture
def config(scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    # No engine answers here: anything that got as far as the engine would say so.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    repo = make_repo(tmp_path / "repo")
    (scad_home / "configs").mkdir(parents=True)
    (scad_home / "configs" / "p.yml").write_text(
        f"name: p\nrepos:\n  code: {{path: {repo}, workdir: true}}\n"
    )
    return "p"


async def test_a_prompt_file_with_bad_lines_is_refused_before_anything(
    run_cli: Cli, config: str, scad_home: Path, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "fine"}\n{"prompt": ""}\n{"prompt": "x", "extra": 1}\n')
    result = await run_cli("batch", config, "--tag", "t", "--prompt-file", str(prompts))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"scad: error: {prompts}:2: the prompt is empty",
        f"{prompts}:3: Object contains unknown field `extra` (fields: prompt, and optional tag, model, max_turns)",
    ]
    assert not (scad_home / "batches").exists() and not (scad_home / "runs").exists()


async def test_prompts_from_standard_input(run_cli: Cli, config: str) -> None:
    result = await run_cli("batch", config, "-t", "t", "-f", "-", input="a\n---\n---\n")
    assert result.exit_code == 2
    assert (
        result.stderr
        == "scad: error: standard input:3: empty prompt: nothing since the --- on line 2\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give the prompts with --prompt-file F (- for standard input) or --prompt P ..."),
        (("-p", "a", "-f", "x"), "give the prompts with --prompt-file F (- for standard input) or --prompt P ..."),
        (("-p", " "), "--prompt: a prompt is empty"),
        (("-f", "/nonexistent/p.txt"), "cannot read the prompt file /nonexistent/p.txt: No such file or directory"),
    ],
)  # fmt: skip
async def test_prompt_options(
    run_cli: Cli, config: str, args: tuple[str, ...], message: str
) -> None:
    result = await run_cli("batch", config, "--tag", "t", *args)
    assert (result.exit_code, result.stderr) == (2, f"scad: error: {message}\n")


async def test_a_bad_tag(run_cli: Cli, config: str) -> None:
    result = await run_cli("batch", config, "--tag", "no good", "-p", "x")
    assert result.exit_code == 2 and result.stderr.startswith('scad: error: invalid tag "no good"')


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--timeout", "5x", '--timeout: "5x" is not a duration; use 30s, 10m, 2h'),
        ("--idle-timeout", "soon", '--idle-timeout: "soon" is not a duration; use 30s, 10m, 2h'),
        ("--backoff", "-1s", '--backoff: "-1s" is not a duration; use 30s, 10m, 2h'),
        ("--stagger", "", '--stagger: "" is not a duration; use 30s, 10m, 2h'),
        # A run cannot be given no time at all.
        ("--timeout", "0", '--timeout: "0" is no time; use 30s, 10m, 2h'),
        ("--idle-timeout", "0s", '--idle-timeout: "0s" is no time; use 30s, 10m, 2h'),
    ],
)
async def test_a_bad_duration_is_one_line(
    run_cli: Cli, config: str, option: str, value: str, message: str
) -> None:
    result = await run_cli("batch", config, "--tag", "t", "-p", "x", option, value)
    assert (result.exit_code, result.stderr) == (2, f"scad: error: {message}\n")


@pytest.mark.parametrize("value", ["0", "-3", "many"])
async def test_a_bad_burst_is_one_line(run_cli: Cli, config: str, value: str) -> None:
    result = await run_cli("batch", config, "--tag", "t", "-p", "x", "--burst", value)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("scad: error: ") and "--burst" in result.stderr


async def test_an_unknown_config(run_cli: Cli, config: str) -> None:
    result = await run_cli("batch", "nope", "--tag", "t", "-p", "x")
    assert result.exit_code == 2 and result.stderr.startswith("scad: error: ")
    assert "nope" in result.stderr


@pytest.mark.parametrize("command", ["status", "watch", "stop", "resume", "retry"])
async def test_an_unknown_batch(run_cli: Cli, config: str, command: str) -> None:
    result = await run_cli("batch", command, "p-x-Nov27-1000")
    assert (result.exit_code, result.stderr) == (
        2,
        'scad: error: no batch "p-x-Nov27-1000"; see `scad batch status`\n',
    )


async def test_no_batches_yet(run_cli: Cli, config: str) -> None:
    result = await run_cli("batch", "status")
    assert result.exit_code == 0
    assert result.stdout.split() == ["BATCH", "SUPERVISOR", "PROMPTS", "OUTCOMES", "COST"]


async def test_logs_of_an_unknown_batch(run_cli: Cli, config: str) -> None:
    result = await run_cli("logs", "--batch", "p-x-Nov27-1000")
    assert (result.exit_code, result.stderr) == (
        2,
        'scad: error: no batch "p-x-Nov27-1000"; see `scad batch status`\n',
    )


async def test_a_prompt_file_that_is_not_text(run_cli: Cli, config: str, tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_bytes(b"fix it\n\xff\xfe\n")
    result = await run_cli("batch", config, "--tag", "t", "-f", str(prompts))
    assert (result.exit_code, result.stderr) == (
        2,
        f"scad: error: {prompts}: not UTF-8 text (invalid start byte at byte 7)\n",
    )


async def test_a_mount_the_agent_cannot_write_is_warned_of_before_anything_starts(
    run_cli: Cli, config: str, scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    config_file = scad_home / "configs" / "p.yml"
    config_file.write_text(config_file.read_text() + f"mounts: [{{host: {private}}}]\n")
    # Agents run as another uid than the host user (as they do when scad runs as root).
    monkeypatch.setattr("scad.image.render.agent_ids", lambda uid, gid: (uid + 1, gid + 1))
    for args in (("batch", "p", "-t", "t", "-p", "x"), ("session", "start", "p", "-t", "t")):
        result = await run_cli(*args)
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"warning: mount {private}: the agent (uid ")
        assert "cannot reach the Docker engine" in result.stderr  # it went on, and no further


async def test_any_unique_beginning_of_a_batch_id_names_the_batch(
    run_cli: Cli, config: str, scad_home: Path
) -> None:
    from scad.batch.store import BatchItem, BatchManifest, BatchOptions, BatchPaths, save_manifest
    from scad.home import Home

    home = Home(scad_home)
    for batch_id in ("p-fix-Dec06-1000", "p-fix-Dec06-1100", "p-web-Dec06-0900"):
        paths = BatchPaths(home, batch_id)
        paths.root.mkdir(parents=True)
        item = BatchItem(index=1, tag="x-01", prompt="p")
        save_manifest(paths, BatchManifest(
            batch_id=batch_id, config="p", tag="x", created="2026-12-06T10:00:00.000Z",
            image="i", source="t", items=[item], options=BatchOptions(),
        ))  # fmt: skip
    (scad_home / "runs" / "p-fix-01-Dec06-1000").mkdir(parents=True)

    found = await run_cli("batch", "status", "p-w", "--json")  # exits 1: never supervised
    assert found.stderr == ""
    assert json.loads(found.stdout)["batch_id"] == "p-web-Dec06-0900"
    both = await run_cli("batch", "status", "p-fix")
    assert (both.exit_code, both.stderr) == (
        2,
        'scad: error: "p-fix" begins 2 batch ids (p-fix-Dec06-1000, p-fix-Dec06-1100); '
        "give more of one\n",
    )
    a_run = await run_cli("batch", "stop", "p-fix-01-Dec06-1000")
    assert a_run.stderr == (
        'scad: error: "p-fix-01-Dec06-1000" is a run, not a batch; '
        "`scad session info p-fix-01-Dec06-1000` shows it\n"
    )
    typo = await run_cli("logs", "--batch", "p-wbe-Dec06-0900")
    assert (
        typo.stderr == 'scad: error: no batch "p-wbe-Dec06-0900"; did you mean p-web-Dec06-0900?\n'
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "--fix-attempts: -1 is not in the range 0<=x<=20"),
        ("21", "--fix-attempts: 21 is not in the range 0<=x<=20"),
        ("two", "--fix-attempts: 'two' is not a valid integer range"),
    ],
)
async def test_a_bad_fix_attempts_count_is_one_line(
    run_cli: Cli, config: str, value: str, message: str
) -> None:
    result = await run_cli("batch", config, "--tag", "t", "-p", "x", "--fix-attempts", value)
    assert (result.exit_code, result.stderr) == (2, f"scad: error: {message}\n")


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["batch", "p", "--tag", "t", "-p", "x"], id="batch"),
        pytest.param(
            ["session", "start", "p", "--tag", "t", "-p", "x", "--headless"], id="session"
        ),
    ],
)
async def test_on_swarm_without_a_registry_is_one_line(
    run_cli: Cli, config: str, scad_home: Path, command: list[str]
) -> None:
    result = await run_cli(*command, "--on", "swarm")
    assert (result.exit_code, result.stderr) == (
        2,
        "scad: error: --on swarm: p names no swarm.registry; add swarm: {registry: host:port} "
        "to its config (`scad config edit p`)\n",
    )
    assert not (scad_home / "batches").exists() and not (scad_home / "runs").exists()


async def test_on_somewhere_unknown_is_one_line(run_cli: Cli, config: str) -> None:
    result = await run_cli("batch", config, "--tag", "t", "-p", "x", "--on", "cloud")
    assert (result.exit_code, result.stderr) == (
        2,
        "scad: error: --on: 'cloud' is not one of 'local', 'swarm'\n",
    )


async def test_a_session_on_a_swarm_is_headless(run_cli: Cli, config: str, scad_home: Path) -> None:
    configs = scad_home / "configs"
    text = (configs / "p.yml").read_text()
    (configs / "p.yml").write_text(
        text + "runs_on: swarm\nswarm: {registry: 'registry.lan:5000'}\n"
    )
    result = await run_cli("session", "start", config, "--tag", "t", "-p", "x")
    assert (result.exit_code, result.stderr) == (
        2,
        "scad: error: a session on a swarm runs headless (no terminal reaches a node): "
        "add --headless\n",
    )
    local = await run_cli("session", "start", config, "--tag", "t", "-p", "x", "--on", "local")
    assert "headless" not in local.stderr  # --on local overrides the config's runs_on


async def test_a_batch_on_a_swarm_it_cannot_reach_is_refused_in_one_line(
    run_cli: Cli, config: str, scad_home: Path
) -> None:
    configs = scad_home / "configs"
    text = (configs / "p.yml").read_text()
    (configs / "p.yml").write_text(
        text + "runs_on: swarm\nswarm: {registry: 'registry.lan:5000'}\n"
    )
    result = await run_cli("batch", config, "--tag", "t", "-p", "x")
    assert (result.exit_code, result.stderr) == (
        2,
        "scad: error: p: runs on a swarm need gateway_address, the address of this host "
        "that the nodes' containers reach; add `gateway_address: IP` to the config "
        "(`scad config edit p`)\n",
    )
    assert not (scad_home / "batches").exists() and not (scad_home / "runs").exists()
