"""`scad doctor` against the real engine: healthy, a broken engine socket, a missing
base image and a mount the agent cannot write."""

from __future__ import annotations

import json
import os

import pytest

from .conftest import project_config, session_settings
from .sessions_support import Project, run

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


def statuses(output: str) -> dict[str, str]:
    """Each check's name (with its config) and status, from `doctor --json`."""
    checks = json.loads(output)["checks"]
    return {c["name"] + (f" ({c['config']})" if c["config"] else ""): c["status"] for c in checks}


async def test_a_healthy_host_passes_every_check(project: Project) -> None:
    result = await project.scad("doctor", "--json")
    seen = statuses(result.stdout)
    live_restore = seen.pop("live-restore")
    assert live_restore in ("pass", "warn")  # dockerd's default is off
    assert set(seen.values()) == {"pass"}
    assert {"engine", "round trip (scadtest)", "claude --version (scadtest)"} <= set(seen)
    assert json.loads(result.stdout)["ok"] is True
    text = await project.scad("doctor")
    assert "ok    round trip (scadtest): claude in scad-scadtest-" in text.stdout
    assert (await run("docker", "ps", "-aq", "--filter", "label=scad.doctor")).stdout == ""


async def test_a_broken_engine_socket_fails_in_one_line_and_skips_the_rest(
    project: Project,
) -> None:
    result = await project.scad(
        "doctor", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, check=False
    )
    assert result.returncode == 1 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAIL  engine: cannot reach the Docker engine")
    assert lines[1].startswith("      fix: start dockerd")
    skipped = [line for line in lines if line.startswith("skip  ")]
    assert len(skipped) == 6 and all(s.endswith(": the engine did not answer") for s in skipped)
    assert "Traceback" not in result.stdout + result.stderr


async def test_a_missing_base_image_and_an_unwritable_mount_are_named_with_a_fix(
    project: Project,
) -> None:
    locked = project.root / "locked"
    locked.mkdir(mode=0o500)
    os.chmod(locked, 0o500)
    if os.getuid() == 0:
        os.chmod(locked, 0o700)  # root owns it; the agent (uid 1000) cannot write it
    extra = (
        'image: {base: "scad-doctor-absent:1"}\n'
        f"mounts: [{{host: {locked}, container: /data}}]\n" + session_settings(project.model.url)
    )
    (project.home / "configs" / "broken.yml").write_text(
        project_config("broken", project.repo, extra)
    )
    result = await project.scad("doctor", "--json", check=False)
    seen = statuses(result.stdout)
    assert seen["base image (broken)"] == "warn"
    assert seen["mounts (broken)"] == "warn"
    assert seen["claude --version (broken)"] == "skip"  # never built
    checks = {c["name"] + str(c["config"]): c for c in json.loads(result.stdout)["checks"]}
    assert "scad-doctor-absent:1" in checks["base imagebroken"]["detail"]
    assert checks["base imagebroken"]["fix"]
    assert str(locked) in checks["mountsbroken"]["detail"]
    assert result.returncode == 0  # warnings do not fail
