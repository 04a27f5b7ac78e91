"""A run's log written by an earlier version still reads: a golden log, read whole and
cut after each container's end."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.home import Home
from scad.runs.envelopes import ClaudeLine, Created, Exited, UnknownEvent
from scad.runs.events import Position, position
from scad.runs.logread import read_all_events
from scad.runs.records import RunPaths
from scad.runs.summaries import summarise_log

pytestmark = pytest.mark.anyio

GOLDEN = Path(__file__).parent / "golden" / "run-events.jsonl"
A, B, C, D = ("a" * 12, "b" * 12, "c" * 12, "d" * 12)


def golden_paths(tmp_path: Path, lines: int | None = None) -> RunPaths:
    """The golden log, or its first ``lines`` lines, as a run's log."""
    paths = RunPaths(Home(tmp_path), "p-t-Nov27-1000")
    paths.root.mkdir(parents=True)
    data = GOLDEN.read_bytes()
    if lines is not None:
        data = b"".join(data.splitlines(keepends=True)[:lines])
    paths.events.write_bytes(data)
    return paths


async def test_every_line_reads(tmp_path: Path) -> None:
    envelopes = await read_all_events(golden_paths(tmp_path))
    # The partial last line is left unread; a kind of a later version reads as unknown.
    assert [e.kind or e.src for e in envelopes] == [
        "created", "started", "claude", "claude", "claude", "exited", "warning", "retry",
        "started", "claude", "exited", "fetched", "refreshed", "resumed", "claude", "claude",
        "stopped", "exited", "started", "lost", "cancelled", "cancelled", "cleaned",
        "a-kind-of-a-later-version",
    ]  # fmt: skip
    exits = [e for e in envelopes if isinstance(e, Exited)]
    # The watchdog's stop was a sentence; now it is read as its reason.
    assert exits == [
        Exited(seq=6, ts="2026-11-27T10:00:05.000Z", cid=A, exit_code=143,
               life="2026-11-27T10:00:02.5Z", stop="hung"),
        Exited(seq=11, ts="2026-11-27T10:00:10.000Z", cid=B, exit_code=137, oom=True,
               life="2026-11-27T10:00:10Z", stop="timed-out"),
        Exited(seq=18, ts="2026-11-27T10:00:17.000Z", cid=C, exit_code=1,
               life="2026-11-27T10:00:20Z", stderr="Error: one\nError: two"),
    ]  # fmt: skip
    assert envelopes[0] == Created(
        seq=1, ts="2026-11-27T10:00:00.000Z", detail="image scad-p:abc, branch scad/t"
    )
    assert envelopes[-1] == UnknownEvent(
        seq=24, ts="2026-11-27T10:00:23.000Z", event="a-kind-of-a-later-version", cid=D,
        detail="new",
    )  # fmt: skip
    line = envelopes[3]
    assert isinstance(line, ClaudeLine)
    assert (line.cid, line.n, line.end, line.k, line.text) == (
        A,
        1,
        "2026-11-27T10:00:04.5Z",
        1,
        "not json at all",
    )


@pytest.mark.parametrize(
    ("lines", "outcome", "container", "stopped", "exit_code"),
    [
        pytest.param(6, "hung", A, False, 143, id="hung"),
        pytest.param(11, "timed-out", B, False, 137, id="timed-out"),
        pytest.param(18, "failed", C, True, 1, id="stopped-after-its-result"),
        pytest.param(None, "crashed", D, False, 1, id="lost"),
    ],
)
def test_each_life_ends_as_it_did(
    tmp_path: Path,
    lines: int | None,
    outcome: str,
    container: str,
    stopped: bool,
    exit_code: int,
) -> None:
    log = summarise_log(golden_paths(tmp_path, lines))
    assert (log.outcome, log.container, log.container_ended) == (outcome, container, True)
    assert (log.stopped, log.summary.exit_code) == (stopped, exit_code)


async def test_each_container_s_place_reads(tmp_path: Path) -> None:
    paths = golden_paths(tmp_path)
    assert [await position(paths, cid * 5) for cid in (A, B, C, D)] == [
        Position(next_line=3, done=True, exited_life="2026-11-27T10:00:02.5Z"),
        Position(next_line=1, done=True, exited_life="2026-11-27T10:00:10Z"),
        Position(next_line=2, done=True, exited_life="2026-11-27T10:00:20Z"),
        Position(next_line=0, done=True, lost=True),
    ]
