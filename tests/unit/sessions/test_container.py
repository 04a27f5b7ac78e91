from __future__ import annotations

import os
from pathlib import Path

from scad.config.loading import parse_config
from scad.config.schema import DEFAULT_PIDS_LIMIT
from scad.engine._types import BindMount, ContainerSpec, Limits, Security
from scad.gateway import egress_network_name
from scad.home import Home
from scad.runs.records import RunPaths, RunRecord
from scad.sessions.container import run_container_spec, unwritable_mounts


def test_spec_mounts_labels_and_no_secrets(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    config = parse_config(
        "name: p\nrepos:\n  code: {path: ., workdir: true}\n  lib: {path: ., add_dir: true}\n"
        "mounts: [{host: data, container: /data}]\nnetwork: host\nclaude: {env: {ANTHROPIC_BASE_URL: 'http://127.0.0.1:1', "
        "DISABLE_TELEMETRY: '1'}}\n",
        label="p.yml",
        base_dir=tmp_path,
    )
    record = RunRecord(
        run_id="p-t-Nov27-1000", config="p", tag="t", mode="headless", image="scad-p:abc",
        branch="scad-p-t-Nov27-1000", created="2026-11-27T10:00:00.000Z", repos={},
    )  # fmt: skip
    paths = RunPaths(Home(tmp_path / "home"), record.run_id)
    spec = run_container_spec(
        config, record, paths, user=(1000, 1000), timezone="Europe/Paris", claude_args=["-p"]
    )
    assert spec.name == "scad-p-t-Nov27-1000"
    assert spec.labels == {
        "scad.run": "p-t-Nov27-1000",
        "scad.home": os.path.realpath(tmp_path / "home"),
        "scad.config": "p",
        "scad.mode": "headless",
    }
    assert spec.command == ["headless", "-p"]
    assert spec.user == "1000:1000"
    assert spec.network == "host"
    assert spec.workdir == "/workspace/code"
    # The model's address is the gateway's upstream: the run's is the gateway.
    assert spec.env == {"TZ": "Europe/Paris", "DISABLE_TELEMETRY": "1"}
    targets = {m.target: (m.source, m.read_only) for m in spec.mounts}
    assert targets["/workspace/code"] == (str(paths.clone("code")), False)
    assert targets["/workspace/lib"] == (str(paths.clone("lib")), False)
    assert targets["/data"] == (str(tmp_path / "data"), False)
    assert targets["/home/agent/.claude"] == (str(paths.claude_dir), False)
    assert targets["/home/agent/.claude.json"] == (str(paths.claude_json), False)
    assert targets["/run/scad"] == (str(paths.inputs), True)
    # The event log and the run's own record are never mounted.
    assert all(source not in (str(paths.root), str(paths.events)) for source, _ in targets.values())


def spec_for(tmp_path: Path, extra: str = "", *, home: Home | None = None) -> ContainerSpec:
    config = parse_config(
        "name: p\nrepos:\n  code: {path: ., workdir: true}\n" + extra,
        label="p.yml",
        base_dir=tmp_path,
    )
    record = RunRecord(
        run_id="p-t-Nov27-1000", config="p", tag="t", mode="headless", image="scad-p:abc",
        branch="scad-p-t-Nov27-1000", created="2026-11-27T10:00:00.000Z", repos={},
    )  # fmt: skip
    paths = RunPaths(home or Home(tmp_path / "home"), record.run_id)
    return run_container_spec(
        config, record, paths, user=(1000, 1000), timezone="UTC", claude_args=["-p"]
    )


def test_spec_names_the_home_by_its_real_path(tmp_path: Path) -> None:
    """A container names the scad home that made it (another home's gc leaves it
    alone); a home reached through a link is named by where the link leads."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    spec = spec_for(tmp_path, home=Home(tmp_path / "link"))
    assert spec.labels["scad.home"] == os.path.realpath(tmp_path / "real")


def test_spec_is_limited_and_hardened_by_default(tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    assert spec.limits == Limits(cpus=None, memory=None, pids=DEFAULT_PIDS_LIMIT)
    assert spec.security == Security(no_new_privileges=True, cap_drop_all=True)


def test_spec_carries_the_configs_resources_and_security(tmp_path: Path) -> None:
    spec = spec_for(
        tmp_path,
        "resources: {cpus: 1.5, memory: 1.5g, pids: 64}\n"
        "security: {no_new_privileges: false, cap_drop_all: false}\n",
    )
    assert spec.limits == Limits(cpus=1.5, memory=1536 * 1024**2, pids=64)
    assert spec.security == Security(no_new_privileges=False, cap_drop_all=False)


def test_pids_null_lifts_the_limit(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, "resources: {pids: null}\nsecurity: {cap_drop_all: false}\n")
    assert spec.limits == Limits()
    assert spec.security == Security(no_new_privileges=True, cap_drop_all=False)


def test_mounts_the_agent_cannot_write_are_named(tmp_path: Path) -> None:
    """As root, agents run as another uid: a folder only its owner may write is
    read-only to them."""
    agent = (os.getuid() + 1, os.getgid() + 1)  # not the owner, not the group
    private, shared = tmp_path / "private", tmp_path / "shared"
    for folder, mode in ((private, 0o700), (shared, 0o777)):
        folder.mkdir()
        folder.chmod(mode)
    mounts = ", ".join(f"{{host: {f}}}" for f in (private, shared))
    config = parse_config(
        f"name: p\nrepos:\n  code: {{path: {tmp_path}, workdir: true}}\nmounts: [{mounts}]\n",
        label="p.yml",
        base_dir=tmp_path,
    )
    assert unwritable_mounts(config, agent) == [
        f"mount {private}: the agent (uid {agent[0]}) cannot write there "
        f"(owner {os.getuid()}, mode 700); chown it to {agent[0]}:{agent[1]} "
        "or let its group or others write"
    ]
    own = (os.getuid(), os.getgid())
    assert unwritable_mounts(config, own) == []  # its owner may


def test_a_mounted_file_needs_only_to_be_writable(tmp_path: Path) -> None:
    agent = (os.getuid() + 1, os.getgid() + 1)
    shared, private = tmp_path / "shared.txt", tmp_path / "private.txt"
    for file, mode in ((shared, 0o666), (private, 0o644)):
        file.write_text("x")
        file.chmod(mode)
    mounts = ", ".join(f"{{host: {f}, container: /data/{f.name}}}" for f in (shared, private))
    config = parse_config(
        f"name: p\nrepos:\n  code: {{path: {tmp_path}, workdir: true}}\nmounts: [{mounts}]\n",
        label="p.yml",
        base_dir=tmp_path,
    )
    assert [w.split(":")[0] for w in unwritable_mounts(config, agent)] == [f"mount {private}"]


def test_a_fenced_config_puts_its_runs_on_the_homes_internal_network(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    open_spec = spec_for(tmp_path, home=home)
    spec = spec_for(tmp_path, "egress: {mode: gateway, allow: [pypi.org]}\n", home=home)
    assert spec.network == egress_network_name(home)
    resolv = BindMount(
        str(RunPaths(home, "p-t-Nov27-1000").inputs / "resolv.conf"), "/etc/resolv.conf", True
    )
    assert spec.mounts == [*open_spec.mounts, resolv]
    assert spec.labels == {**open_spec.labels, "scad.fence": "routes"}
    assert spec.env == {**open_spec.env, "SCAD_FENCE": "1"}
    assert spec.sysctls == {"net.ipv6.conf.all.disable_ipv6": "1"}
    # The agent's container gets no capability back: the cut is done from outside.
    assert spec.cap_add == [] and spec.security == open_spec.security
    assert (open_spec.network, open_spec.sysctls) == ("bridge", {})
    assert "scad.fence" not in open_spec.labels
