"""The README's commands, run verbatim: the set-up line (which ends in `scad demo`)
and the test command CI runs. The README cannot drift from the truth."""

from __future__ import annotations

import os
import re
from pathlib import Path

import anyio
import pytest

from scad.names import image_repository

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
SCAD = str(ROOT / ".venv" / "bin" / "scad")


def commands_under(heading: str) -> list[str]:
    """The lines of the first ``sh`` block under a README heading."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, f"no sh block under {heading}"
    return [line for line in block[1].splitlines() if line.strip()]


def test_the_test_command_is_the_one_ci_runs() -> None:
    (command,) = commands_under("Tests")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci
    (setup,) = commands_under("Set up")
    assert "./setup.sh" in ci and setup.startswith("./setup.sh && ")


@pytest.mark.timeout(960)  # beyond the set-up's own bound
async def test_the_set_up_line_sets_up_and_the_demo_works_end_to_end(tmp_path: Path) -> None:
    (setup,) = commands_under("Set up")
    env = {**os.environ, "SCAD_HOME": str(tmp_path / "home"), "HOME": str(tmp_path / "user")}
    env.pop("ANTHROPIC_API_KEY", None)  # no key needed: the demo brings its own model
    repo = tmp_path / "home" / "demo" / "repo"
    try:
        with anyio.fail_after(900):
            result = await anyio.run_process(["bash", "-c", setup], cwd=ROOT, env=env, check=False)
        out = result.stdout.decode()
        assert result.returncode == 0, f"{out[-3000:]}\n{result.stderr.decode()[-3000:]}"
        assert "4 prompts: 4 succeeded" in out
        assert "concurrency 4 -> 2: the API answered 429" in out
        listed = await anyio.run_process(
            ["git", "-C", str(repo), "branch", "--format=%(refname:short) %(subject)"]
        )
        branches = listed.stdout.decode().splitlines()
        subjects = sorted(b.split(" ", 1)[1] for b in branches if b.startswith("scad-demo-"))
        assert subjects == ["Add shout()", "Document greet()", "Test greet()", "Type greet()"]
        assert "scad demo --cleanup" in out and "4 runs: 4 succeeded" in out
        await a_second_home_runs_and_cleans_the_demo_beside_it(tmp_path, env)
    finally:
        cleanup = await anyio.run_process([SCAD, "demo", "--cleanup"], env=env, check=False)
    assert cleanup.returncode == 0, cleanup.stderr.decode()
    assert cleanup.stdout.decode().startswith("removed the demo: 4 runs, 1 batches, 2 image tags")
    assert not repo.exists()


async def a_second_home_runs_and_cleans_the_demo_beside_it(
    tmp_path: Path, first: dict[str, str]
) -> None:
    """Another home on the same engine runs the demo (the same run ids, the same
    image content) and cleans it up while the first home's demo containers still
    use that image: the clean-up succeeds and leaves the first home's alone."""
    env = {**first, "SCAD_HOME": str(tmp_path / "second")}
    try:
        demo = await anyio.run_process([SCAD, "demo"], env=env, check=False)
        assert demo.returncode == 0, demo.stderr.decode()[-3000:]
        assert "4 prompts: 4 succeeded" in demo.stdout.decode()
    finally:
        cleanup = await anyio.run_process([SCAD, "demo", "--cleanup"], env=env, check=False)
    assert cleanup.returncode == 0, cleanup.stderr.decode()
    assert cleanup.stdout.decode().startswith("removed the demo: 4 runs, 1 batches, 2 image tags")
    ours = await anyio.run_process(
        ["docker", "ps", "-a", "--filter", f"label=scad.home={first['SCAD_HOME']}", "-q"]
    )
    assert len(ours.stdout.split()) == 4  # the first home's demo containers, untouched
    latest = image_repository("demo", str(Path(first["SCAD_HOME"]).resolve())) + ":latest"
    assert (
        await anyio.run_process(["docker", "image", "inspect", latest], check=False)
    ).returncode == 0
