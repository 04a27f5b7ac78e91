"""What a scad killed mid-check leaves (its check's container and folder of
checkouts) gc lists and removes; a check still going keeps both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scad.checks.folder import CheckFolder, holder
from scad.engine import ContainerState, labels
from scad.gc import apply_gc, plan_gc
from scad.home import Home
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio

#: A scad process in the middle of a check: it holds a check folder, says where, and waits.
CHECKING = (
    "import sys\nfrom scad.checks.folder import CheckFolder\n"
    "held = CheckFolder()\n(held.path / 'code').mkdir()\nprint(held.path, flush=True)\n"
    "sys.stdin.read()\n"
)


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    monkeypatch.setenv("TMPDIR", str(root))
    return root


@pytest.fixture
def killed(temp_root: Path) -> Iterator[Path]:
    """The folder of a check whose scad was killed (``kill -9``) mid-check."""
    with subprocess.Popen(
        [sys.executable, "-c", CHECKING], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        folder = Path(process.stdout.readline().strip())
        assert holder(folder) == "held"
        os.kill(process.pid, signal.SIGKILL)
    yield folder


def check_container(name: str, folder: Path, home: Home, *, running: bool) -> ContainerState:
    return ContainerState(
        id=f"id-{name}", name=name, image="scad-p:x", image_id="sha256:x",
        status="running" if running else "exited", running=running, exit_code=None,
        labels={labels.CHECK: "tests", labels.CHECK_FOLDER: str(folder),
                labels.HOME: labels.home_label(home), labels.CONFIG: "p"},
        created="2026-11-27T00:00:00Z",
    )  # fmt: skip


async def test_a_killed_check_s_container_and_folder_go_and_a_going_one_s_stay(
    tmp_path: Path, temp_root: Path, killed: Path
) -> None:
    home = Home(tmp_path / "home")
    home.runs.mkdir(parents=True)
    going = CheckFolder()
    try:
        (going.path / "code").mkdir()
        engine = FakeEngine(
            containers=[
                check_container("scad-check-p-dead", killed, home, running=True),
                check_container("scad-check-p-alive", going.path, home, running=True),
            ]
        )
        plan = await plan_gc(engine, home)
        listed = {(i.kind, i.name): i.reason for i in plan.items}
        assert set(listed) == {
            ("container", "scad-check-p-dead"),
            ("temp", str(killed)),
        }
        assert "stopped mid-check" in listed[("container", "scad-check-p-dead")]
        kept = {(k.kind, k.name): k.reason for k in plan.kept}
        assert "its check is going" in kept[("container", "scad-check-p-alive")]
        assert "its check is going" in kept[("temp", str(going.path))]

        results = await apply_gc(engine, home, plan)

        assert [r.outcome for r in results] == ["removed", "removed"]
        assert engine.removed == ["id-scad-check-p-dead"]
        assert not killed.exists()
        assert (going.path / "code").is_dir()
    finally:
        going.close()
    assert list(temp_root.iterdir()) == []


async def test_a_check_s_container_whose_folder_is_gone_goes_only_when_this_home_s(
    tmp_path: Path, temp_root: Path
) -> None:
    home = Home(tmp_path / "home")
    home.runs.mkdir(parents=True)
    gone = temp_root / "scad-check-gone"
    other = Home(tmp_path / "other")
    engine = FakeEngine(
        containers=[
            check_container("scad-check-p-ours", gone, home, running=False),
            check_container("scad-check-p-theirs", gone, other, running=False),
        ]
    )
    plan = await plan_gc(engine, home)
    assert [i.name for i in plan.items] == ["scad-check-p-ours"]
    assert "another scad home" in {k.name: k.reason for k in plan.kept}["scad-check-p-theirs"]
