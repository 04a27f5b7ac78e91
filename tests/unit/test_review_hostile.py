"""`review` over the hostile-clone matrix: nothing an agent planted runs, nothing
outside the run is read, and work that can be read is still shown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from scad.review import RunReview, review_run
from scad.runs.records import RunPaths
from tests.unit.test_hostile_clones import READABLE, REFUSED_NAMES, UNREADABLE, Trap, make_run

pytestmark = pytest.mark.anyio


async def reviewed(tmp_path: Path, repo: Path, plant: Callable[[Path, Trap], None]) -> RunReview:
    home, record = await make_run(tmp_path, repo)
    trap = Trap(tmp_path / "trap-root")
    plant(RunPaths(home, "r").clone("code"), trap)
    with anyio.fail_after(30):  # a FIFO that git or scad opened would block here
        review = await review_run(home, record.run_id)
    assert trap.fired() == []
    return review


@pytest.mark.parametrize("plant", [pytest.param(p, id=n) for n, p in READABLE.items()])
async def test_a_readable_hostile_clone_runs_nothing_and_its_work_is_shown(
    tmp_path: Path, repo: Path, plant: Callable[[Path, Trap], None]
) -> None:
    review = await reviewed(tmp_path, repo, plant)
    (code,) = review.repos
    assert code.problem is None and code.ahead >= 1 and code.diff is not None
    assert [c.subject for c in code.commits][-1] in ("agent work", "signed work")


@pytest.mark.parametrize(
    "plant",
    [pytest.param(p, id=n) for n, p in UNREADABLE.items()]
    + [pytest.param(p, id=n) for n, (p, _) in REFUSED_NAMES.items()],
)
async def test_an_unreadable_hostile_clone_reads_nothing_outside_and_says_why(
    tmp_path: Path, repo: Path, plant: Callable[[Path, Trap], None]
) -> None:
    review = await reviewed(tmp_path, repo, plant)
    (code,) = review.repos
    problem = review.rows[0].problem
    assert (code.problem is None) == (problem is None)
    if code.problem is None:  # the run's own branch is readable: its work is there
        assert code.tip is not None
    else:
        assert code.diff is None and "\x1b" not in code.problem
    assert "outside" not in (code.diff or "")
