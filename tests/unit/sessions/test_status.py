"""What status and info read from an agent's claude/ folder, hostile or not."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scad.home import Home
from scad.runs.accounting import RunSummary
from scad.runs.records import RunPaths
from scad.sessions.info import TRANSCRIPT_LIMIT, TranscriptInfo, list_transcripts
from scad.sessions.status import SessionStatus, shared_refresh_tokens


def row(run_id: str, state: str) -> SessionStatus:
    return SessionStatus(run_id=run_id, config="p", mode="headless", state=state, exit_code=None,
                         created="", branch="b", summary=RunSummary())  # fmt: skip


def test_live_sessions_sharing_a_refresh_token_are_grouped(tmp_path: Path) -> None:
    home = Home(tmp_path)
    tokens = {"a": "one", "b": "one", "c": "one", "d": "two", "e": "two", "f": None}
    for run_id, token in tokens.items():
        claude = RunPaths(home, run_id).claude_dir
        claude.mkdir(parents=True)
        oauth = {"refreshToken": token} if token else {}
        (claude / ".credentials.json").write_text(json.dumps({"claudeAiOauth": oauth}))
    # Agent-made hazards: a link to another run's credentials and a FIFO are not read.
    (RunPaths(home, "g").claude_dir).mkdir(parents=True)
    (RunPaths(home, "g").claude_dir / ".credentials.json").symlink_to(
        RunPaths(home, "a").claude_dir / ".credentials.json"
    )
    (RunPaths(home, "h").claude_dir).mkdir(parents=True)
    os.mkfifo(RunPaths(home, "h").claude_dir / ".credentials.json")
    rows = [row("a", "running"), row("b", "unknown"), row("c", "exited"), row("d", "running"),
            row("e", "running"), row("f", "running"), row("g", "running"), row("h", "running")]  # fmt: skip
    assert shared_refresh_tokens(home, rows) == [["a", "b"], ["d", "e"]]


@pytest.fixture
def projects(tmp_path: Path) -> Path:
    folder = tmp_path / "claude" / "projects" / "-workspace-code"
    folder.mkdir(parents=True)
    return folder


def test_transcripts_are_counted_and_dated(projects: Path) -> None:
    (projects / "s1.jsonl").write_text('{"timestamp": "2026-11-27T10:00:00Z"}\n{}\n')
    (projects / "s2.jsonl").write_text("not json\n")
    assert list_transcripts(projects.parent.parent) == [
        TranscriptInfo(session_id="s1", started="2026-11-27T10:00:00Z", entries=2, size_bytes=41),
        TranscriptInfo(session_id="s2", started=None, entries=1, size_bytes=9),
    ]


def test_hostile_transcripts_are_named_not_read(projects: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.jsonl").write_text('{"timestamp": "host secret"}\n')
    (projects / "link.jsonl").symlink_to(tmp_path / "secret.jsonl")
    os.mkfifo(projects / "fifo.jsonl")
    with open(projects / "huge.jsonl", "wb") as f:
        f.truncate(1 << 30)
    (projects.parent / "linked-project").symlink_to(tmp_path)
    (projects / "\x1b[2Jescape.jsonl").write_text('{"timestamp": "\\u001b[2J"}\n')
    assert list_transcripts(projects.parent.parent) == [
        TranscriptInfo(session_id="\\x1b[2Jescape", started="\\x1b[2J", entries=1, size_bytes=27),
        TranscriptInfo(session_id="fifo", started=None, entries=None,
                       problem="is not a regular file"),
        TranscriptInfo(session_id="huge", started=None, entries=None,
                       problem=f"is {1 << 30} bytes, over the {TRANSCRIPT_LIMIT}-byte bound"),
        TranscriptInfo(session_id="link", started=None, entries=None,
                       problem="is a symbolic link; not followed"),
    ]  # fmt: skip


def test_a_linked_projects_folder_shows_no_transcripts(tmp_path: Path) -> None:
    (tmp_path / "elsewhere" / "p").mkdir(parents=True)
    (tmp_path / "elsewhere" / "p" / "s.jsonl").write_text("{}\n")
    (tmp_path / "claude").mkdir()
    (tmp_path / "claude" / "projects").symlink_to(tmp_path / "elsewhere")
    assert list_transcripts(tmp_path / "claude") == []


def test_transcripts_not_utf8_or_nested_too_deep_are_counted_not_trusted(projects: Path) -> None:
    (projects / b"\xff.jsonl".decode(errors="surrogateescape")).write_bytes(
        b'{"timestamp": "\xff"}\n'
    )
    (projects / "deep.jsonl").write_bytes(b"[" * 100_000 + b"\n")
    assert list_transcripts(projects.parent.parent) == [
        TranscriptInfo(session_id="deep", started=None, entries=1, size_bytes=100_001),
        TranscriptInfo(session_id="\\udcff", started=None, entries=1, size_bytes=19),
    ]


def test_many_transcripts_are_read_up_to_a_bound(
    projects: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scad.sessions.info.TRANSCRIPTS_BUDGET", 25)
    for n in range(3):
        (projects / f"s{n}.jsonl").write_text("x" * 9 + "\n")
    found = list_transcripts(projects.parent.parent)
    assert [(t.session_id, t.entries, t.problem) for t in found] == [
        ("s0", 1, None),
        ("s1", 1, None),
        ("s2", None, "is 10 bytes, over the 5-byte bound"),
    ]


def test_many_transcripts_are_listed_up_to_a_count_and_the_cut_is_said(
    projects: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scad.sessions.info.MAX_TRANSCRIPTS", 100)
    for n in range(3000):
        (projects / f"s{n:04}.jsonl").touch()
    found = list_transcripts(projects.parent.parent)
    assert len(found) == 101
    assert [t.session_id for t in found[:2]] == ["s0000", "s0001"]
    assert (found[-1].session_id, found[-1].problem) == (
        "(more)",
        "past the 100 transcripts listed in one look",
    )


def test_a_folder_of_more_entries_than_scad_lists_is_named_not_listed(
    projects: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scad.agentfs.MAX_ENTRIES", 1000)
    for n in range(1500):
        (projects / f"n{n}").touch()
    (found,) = list_transcripts(projects.parent.parent)
    assert found.problem is not None
    assert found.problem.startswith("not listed: claude/projects/")
    assert found.problem.endswith(" holds more than 1000 entries")


def test_empty_transcripts_by_the_ten_thousand_are_listed_in_bounded_time(projects: Path) -> None:
    for n in range(20_000):
        (projects / f"s{n:05}.jsonl").touch()
    found = list_transcripts(projects.parent.parent)
    assert len(found) == 1001 and found[-1].session_id == "(more)"
