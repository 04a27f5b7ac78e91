"""ccusage over a run's transcripts: what it is shown, and its ways to fail.

ccusage itself runs in the integration tests; here a stand-in script records
what ccusage would have been given, so the error paths can be driven."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import pytest

from scad.errors import CostCheckError
from scad.reports import ccusage
from scad.reports.ccusage import CcusageReport, ccusage_command, ccusage_report
from scad.runs.accounting import Usage

pytestmark = pytest.mark.anyio

TOTALS = {
    "inputTokens": 10, "outputTokens": 20, "cacheCreationTokens": 3, "cacheReadTokens": 4,
    "totalCost": 0.5, "totalTokens": 37, "unpricedModels": ["m"],
}  # fmt: skip


def stand_in(tmp_path: Path, body: str) -> list[str]:
    """A ccusage that runs ``body`` (sh) with what it was given."""
    script = tmp_path / "ccusage"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return [str(script)]


def recording(tmp_path: Path) -> tuple[list[str], Path]:
    seen = tmp_path / "seen.txt"
    body = (
        f'cd "$CLAUDE_CONFIG_DIR" && find . -type f -exec sh -c \'echo "$1 $(cat "$1")"\' _ {{}} \\; '
        f'| sort > {seen}; echo "$HOME $*" >> {seen}; '
        f"echo '{json.dumps({'session': [], 'totals': TOTALS})}'"
    )
    return stand_in(tmp_path, body), seen


async def test_the_transcripts_are_copied_out_and_links_and_fifos_left_behind(
    tmp_path: Path,
) -> None:
    claude = tmp_path / "run" / "claude"
    project = claude / "projects" / "-workspace-code"
    (project / "sess" / "subagents").mkdir(parents=True)
    (project / "a.jsonl").write_text("mine\n")
    (project / "sess" / "subagents" / "b.jsonl").write_text("sub\n")
    (project / "notes.txt").write_text("not a transcript\n")
    secret = tmp_path / "host-secret.jsonl"
    secret.write_text("host\n")
    (project / "link.jsonl").symlink_to(secret)
    os.mkfifo(project / "fifo.jsonl")
    (claude / "projects" / "linked").symlink_to(tmp_path)
    command, seen = recording(tmp_path)

    with anyio.fail_after(30):
        report = await ccusage_report(claude, command)
    assert report == CcusageReport(
        usage=Usage(input_tokens=10, output_tokens=20, cache_creation_tokens=3,
                    cache_read_tokens=4),
        cost_usd=0.5, unpriced_models=["m"],
    )  # fmt: skip
    assert report.usage.total == 37
    lines = seen.read_text().splitlines()
    assert lines[:2] == ["./projects/d0/d4/d0/f0.jsonl sub", "./projects/d0/f0.jsonl mine"]
    home, args = lines[2].split(" ", 1)
    assert args == "session --json --offline" and home.startswith(os.path.realpath("/tmp"))
    assert not Path(home).exists()  # the copies are gone once read


async def test_a_run_without_transcripts_is_still_asked(tmp_path: Path) -> None:
    command, seen = recording(tmp_path)
    await ccusage_report(tmp_path / "no-claude", command)
    assert seen.read_text().splitlines()[:-1] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("echo 'no data' >&2; exit 3", "^ccusage failed: no data$"),
        ("exit 2", "^ccusage failed: exit code 2$"),
        (
            'echo \'{"totals": {"inputTokens": "many"}}\'',
            "^ccusage printed something scad cannot read",
        ),
        ("echo not json", "^ccusage printed something scad cannot read"),
    ],
)
async def test_ccusage_failing_is_one_line(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(CostCheckError, match=message):
        await ccusage_report(tmp_path, stand_in(tmp_path, body))


async def test_ccusage_that_hangs_is_given_up_on_with_all_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ccusage, "TIME_LIMIT", 0.5)
    marker = tmp_path / "child-ran-on"
    # As through npx: the process scad starts is not the one that does the work.
    body = f"(sleep 1.5; touch {marker}) & exec sleep 30"
    with (
        anyio.fail_after(20),
        pytest.raises(CostCheckError, match=r"^ccusage took longer than 0 s$"),
    ):
        await ccusage_report(tmp_path, stand_in(tmp_path, body))
    await anyio.sleep(2.5)
    assert not marker.exists()


async def test_a_missing_ccusage_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CostCheckError, match=r"^ccusage cannot run: "):
        await ccusage_report(tmp_path, [str(tmp_path / "absent")])


def test_the_command_is_chosen_from_the_environment(tmp_path: Path) -> None:
    assert ccusage_command({"SCAD_CCUSAGE": "/opt/cc"}) == ["/opt/cc"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npx").write_text("#!/bin/sh\n")
    (bin_dir / "npx").chmod(0o755)
    assert ccusage_command({"PATH": str(bin_dir)}) == [
        str(bin_dir / "npx"), "--yes", f"ccusage@{ccusage.CCUSAGE_VERSION}"
    ]  # fmt: skip
    (bin_dir / "ccusage").write_text("#!/bin/sh\n")
    (bin_dir / "ccusage").chmod(0o755)
    assert ccusage_command({"PATH": str(bin_dir)}) == [str(bin_dir / "ccusage")]
    with pytest.raises(CostCheckError, match="neither ccusage nor npx is on the PATH; install"):
        ccusage_command({"PATH": str(tmp_path / "empty")})


@pytest.mark.parametrize("layout", ["files", "folders", "a-wide-folder"])
async def test_more_transcripts_than_scad_copies_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    monkeypatch.setattr(ccusage, "MAX_ENTRIES", 1000)
    project = tmp_path / "claude" / "projects" / "-workspace-code"
    project.mkdir(parents=True)
    for n in range(1500):
        if layout == "files":
            (project / f"s{n}.jsonl").touch()
        elif layout == "folders":
            (project / f"d{n // 100}" / f"d{n}").mkdir(parents=True)
        else:
            (project / f"other{n}").touch()
    scratch = tmp_path / "scratch"
    monkeypatch.setattr(ccusage.tempfile, "tempdir", str(scratch))
    scratch.mkdir()
    command, seen = recording(tmp_path)
    with pytest.raises(CostCheckError, match=r"^the run's transcripts cannot be counted: "):
        await ccusage_report(tmp_path / "claude", command)
    assert not seen.exists()  # ccusage was not asked about a part of them
    assert list(scratch.iterdir()) == []


async def test_twenty_thousand_empty_transcripts_are_refused_before_any_is_counted(
    tmp_path: Path,
) -> None:
    project = tmp_path / "claude" / "projects" / "-workspace-code"
    project.mkdir(parents=True)
    for n in range(20_000):
        (project / f"s{n:05}.jsonl").touch()
    command, seen = recording(tmp_path)
    with pytest.raises(CostCheckError, match=r" holds more than 10000 entries$"):
        await ccusage_report(tmp_path / "claude", command)
    assert not seen.exists()
