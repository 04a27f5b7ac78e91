"""A check's container as scad asks for it: where it starts, what it sees, what the
engine keeps of its output."""

from __future__ import annotations

from pathlib import Path

from scad.checks.container import CHECK_LOG_BYTES, check_spec
from scad.config.loading import parse_config
from scad.config.schema import Config
from scad.engine._wire import container_config
from scad.home import Home


def make_config(tmp_path: Path, extra: str = "") -> Config:
    for folder in ("code", "lib", "data", "models"):
        (tmp_path / folder).mkdir(exist_ok=True)
    text = (
        "name: proj\nrepos:\n  code: {path: code, workdir: true, focus: pkg/sub}\n"
        "  lib: {path: lib}\n"
        f"mounts:\n  - {{host: {tmp_path / 'data'}, container: /data}}\n"
        f"  - {{host: {tmp_path / 'models'}}}\n{extra}"
    )
    return parse_config(text, label="proj.yml", base_dir=tmp_path)


def spec_of(tmp_path: Path, config: Config) -> dict:
    spec = check_spec(
        Home(tmp_path / "home"), config, "scad-proj:x", name="tests", run="pytest -q",
        checkouts={"code": "/tmp/c/code", "lib": "/tmp/c/lib"}, folder="/tmp/c",
    )  # fmt: skip
    return container_config(spec)


def test_a_check_starts_where_the_run_s_claude_starts_in_its_focus_folder(
    tmp_path: Path,
) -> None:
    assert spec_of(tmp_path, make_config(tmp_path))["WorkingDir"] == "/workspace/code/pkg/sub"


def test_a_check_sees_the_config_s_mounts_read_only_and_its_checkouts_writable(
    tmp_path: Path,
) -> None:
    mounts = {
        m["Target"]: m for m in spec_of(tmp_path, make_config(tmp_path))["HostConfig"]["Mounts"]
    }
    assert mounts["/data"] == {
        "Type": "bind", "Source": str(tmp_path / "data"), "Target": "/data", "ReadOnly": True,
    }  # fmt: skip
    models = str(tmp_path / "models")
    assert mounts[models]["ReadOnly"] is True and mounts[models]["Source"] == models
    assert mounts["/workspace/code"]["Source"] == "/tmp/c/code"
    assert not mounts["/workspace/code"]["ReadOnly"] and not mounts["/workspace/lib"]["ReadOnly"]


def test_the_engine_keeps_no_more_of_a_check_s_output_than_its_cap(tmp_path: Path) -> None:
    log = spec_of(tmp_path, make_config(tmp_path))["HostConfig"]["LogConfig"]
    assert log == {
        "Type": "json-file", "Config": {"max-size": str(CHECK_LOG_BYTES), "max-file": "1"},
    }  # fmt: skip


def test_a_check_s_container_names_the_folder_its_scad_holds(tmp_path: Path) -> None:
    assert spec_of(tmp_path, make_config(tmp_path))["Labels"]["scad.check.folder"] == "/tmp/c"
