"""Session commands that fail before they need the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("command", ["info", "logs", "attach", "resume"])
async def test_unknown_run_id_suggests_close_matches(
    run_cli: Cli, scad_home: Path, command: str
) -> None:
    (scad_home / "runs" / "proj-feat-Nov27-1000").mkdir(parents=True)
    (scad_home / "runs" / "proj-fix-Nov27-1000").mkdir(parents=True)
    result = await run_cli("session", command, "proj-feat-Nov27-100")
    assert result.exit_code == 2
    assert (
        result.stderr
        == 'scad: error: no run "proj-feat-Nov27-100"; did you mean proj-feat-Nov27-1000, proj-fix-Nov27-1000?\n'
    )


async def test_unknown_run_id_without_close_matches(run_cli: Cli) -> None:
    result = await run_cli("session", "info", "zzz")
    assert result.stderr == 'scad: error: no run "zzz"; see `scad session status --all`\n'


async def test_an_unreadable_run_record_is_one_line(run_cli: Cli, scad_home: Path) -> None:
    run_dir = scad_home / "runs" / "proj-x-Nov27-1000"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text("{not json")
    result = await run_cli("session", "info", "proj-x-Nov27-1000")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "scad: error: run proj-x-Nov27-1000 has an unreadable run.json ("
    )
    assert result.stderr.endswith(f"; remove {run_dir} by hand\n")
