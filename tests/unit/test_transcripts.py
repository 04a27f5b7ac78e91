"""An interactive run counted and followed from Claude's transcripts, hostile ones too."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from scad.home import Home
from scad.runs import summaries
from scad.runs.activity import activity_lines
from scad.runs.records import RunPaths, RunRecord, load_run, save_run
from scad.runs.summaries import summarise_log, summarise_transcripts
from scad.runs.transcripts import (
    MAX_FOLDER_ENTRIES,
    MAX_LINES,
    TranscriptFollower,
    count_transcripts,
    find_transcripts,
)
from scad.sessions import clean_session
from scad.sessions.status import run_statuses
from tests.conftest import Cli, opening
from tests.fakes import FakeEngine
from tests.unit.planted_nodes import NODES, Opens, PlantNode
from tests.unit.test_projects import add_run
from tests.unit.test_summaries import Log

pytestmark = pytest.mark.anyio

SESSION = "0b7c2a9e-1111-4222-8333-944455556666"
MODEL = "claude-sonnet-4-5-20250929"


def line(kind: str, ts: str, message: dict[str, Any], **extra: Any) -> str:
    """A transcript line as Claude Code writes it (compact, its kind among other keys)."""
    entry = {"parentUuid": None, "isSidechain": False, "message": message, "type": kind,
             "uuid": "u", "timestamp": ts, "sessionId": SESSION, **extra}  # fmt: skip
    return json.dumps(entry, separators=(",", ":")) + "\n"


def assistant(ts: str, msg_id: str, content: list[dict[str, Any]], output: int = 50) -> str:
    usage = {"input_tokens": 1000, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 200, "output_tokens": output}  # fmt: skip
    message = {"id": msg_id, "type": "message", "role": "assistant", "model": MODEL,
               "content": content, "usage": usage}  # fmt: skip
    return line("assistant", ts, message)


def bash(ts: str, msg_id: str, tool_id: str, command: str) -> str:
    block = {"type": "tool_use", "id": tool_id, "name": "Bash", "input": {"command": command}}
    return assistant(ts, msg_id, [block])


def tool_result(ts: str, tool_id: str, text: str) -> str:
    block = {"tool_use_id": tool_id, "type": "tool_result", "content": text, "is_error": False}
    return line("user", ts, {"role": "user", "content": [block]})


#: Five tool calls and a commit, then an answer: what a person does in a terminal.
CONVERSATION = "".join(
    [
        '{"type":"queue-operation","operation":"enqueue","timestamp":"2026-11-27T10:00:00.000Z"}\n',
        line("user", "2026-11-27T10:00:00.100Z", {"role": "user", "content": "commit it"}),
        *(
            bash(f"2026-11-27T10:00:0{n}.000Z", f"msg_{n}", f"toolu_{n}", f"step {n}")
            + tool_result(f"2026-11-27T10:00:0{n}.500Z", f"toolu_{n}", "ok")
            for n in range(1, 5)
        ),
        bash("2026-11-27T10:00:05.000Z", "msg_5", "toolu_5", "git commit -qm work"),
        tool_result("2026-11-27T10:00:05.500Z", "toolu_5", "[main abc] work"),
        # One message, two lines (a block each), the usage growing: the last counts, once.
        assistant("2026-11-27T10:00:06.000Z", "msg_6", [{"type": "text", "text": "Done."}], 10),
        assistant("2026-11-27T10:00:06.100Z", "msg_6", [{"type": "text", "text": "Done."}], 30),
        '{"type":"last-prompt","lastPrompt":"commit it","sessionId":"x"}\n',
    ]
)
TOKENS_PER_TURN = 1000 + 200


def claude_project(claude_dir: Path) -> Path:
    folder = claude_dir / "projects" / "-workspace-code"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_with(tmp_path: Path, text: str = CONVERSATION) -> RunPaths:
    paths = RunPaths(Home(tmp_path), "p-tty-Nov27-1000")
    (claude_project(paths.claude_dir) / f"{SESSION}.jsonl").write_text(text)
    return paths


def test_a_conversation_counts_turns_tools_tokens_and_an_estimated_cost(tmp_path: Path) -> None:
    paths = run_with(tmp_path)
    counted = count_transcripts(paths.claude_dir, find_transcripts(paths.claude_dir))
    summary = counted.summary
    assert counted.whole and summary.transcripts_unread is None
    assert (summary.turns, summary.tool_calls) == (6, 5)
    assert summary.last_tool == "Bash: git commit -qm work"
    assert summary.usage.input_tokens == 6000 and summary.usage.cache_read_tokens == 1200
    assert summary.usage.output_tokens == 5 * 50 + 30
    assert summary.cost_estimated
    # Sonnet's list prices: $3 in, $15 out, cache reads a tenth of input.
    assert summary.cost_usd == pytest.approx((6000 * 3 + 280 * 15 + 1200 * 0.3) / 1e6)
    assert summary.last_activity == "2026-11-27T10:00:06.100Z"
    [session] = summary.sessions
    assert (session.session_id, session.turns, session.model) == (SESSION, 6, MODEL)
    assert session.outcome == "interactive" and session.started == "2026-11-27T10:00:01.000Z"


def test_a_resumed_conversation_copied_into_a_new_transcript_counts_once(tmp_path: Path) -> None:
    paths = run_with(tmp_path)
    more = bash("2026-11-27T11:00:00.000Z", "msg_7", "toolu_7", "ls")
    (claude_project(paths.claude_dir) / "resumed.jsonl").write_text(CONVERSATION + more)
    summary = summarise_transcripts(paths)
    assert (summary.turns, summary.tool_calls) == (7, 6)
    assert summary.last_activity == "2026-11-27T11:00:00.000Z"


async def test_interactive_status_counts_the_transcripts_and_headless_ones_do_not(
    tmp_path: Path,
) -> None:
    home = Home(tmp_path)
    tty = run_with(tmp_path)
    head = RunPaths(home, "p-head-Nov27-1000")
    (claude_project(head.claude_dir) / f"{SESSION}.jsonl").write_text(CONVERSATION)

    def record(run_id: str, mode: Any) -> RunRecord:
        return RunRecord(run_id=run_id, config="p", tag="t", mode=mode, image="i", branch="b",
                         created="2026-11-27T10:00:00.000Z", repos={})  # fmt: skip

    rows = await run_statuses(
        None, home, [record(tty.root.name, "interactive"), record(head.root.name, "headless")]
    )
    assert [(r.summary.turns, r.summary.tool_calls) for r in rows] == [(6, 5), (0, 0)]
    assert rows[0].summary.cost_usd > 0 and rows[0].summary.cost_estimated
    assert rows[1].summary.cost_usd == 0  # a headless run's transcript is its log again


async def test_session_clean_keeps_what_an_interactive_run_spent(tmp_path: Path) -> None:
    home = Home(tmp_path)
    paths = run_with(tmp_path)
    record = RunRecord(run_id=paths.root.name, config="p", tag="t", mode="interactive", image="i",
                       branch="b", created="2026-11-27T10:00:00.000Z", repos={})  # fmt: skip
    save_run(home, record)
    await clean_session(FakeEngine(), home, record, force=False)
    assert not paths.claude_dir.exists()
    [row] = await run_statuses(None, home, [load_run(home, record.run_id)])
    assert (row.state, row.summary.turns, row.summary.tool_calls) == ("cleaned", 6, 5)
    assert row.summary.cost_usd > 0


def test_the_cached_count_is_reused_until_a_transcript_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = run_with(tmp_path)
    first = summarise_log(paths, transcripts=True).summary
    counts: list[int] = []
    real = summaries.count_transcripts

    def counting(*args: Any) -> Any:
        counts.append(1)
        return real(*args)

    monkeypatch.setattr(summaries, "count_transcripts", counting)
    assert summarise_log(paths, transcripts=True).summary == first and counts == []
    transcript = claude_project(paths.claude_dir) / f"{SESSION}.jsonl"
    with transcript.open("a") as f:
        f.write(bash("2026-11-27T10:01:00.000Z", "msg_9", "toolu_9", "make"))
    after = summarise_log(paths, transcripts=True).summary
    assert (after.turns, after.tool_calls, counts) == (7, 6, [1])
    # Rewritten in place to the same size with its old modification time: still recounted.
    info = transcript.stat()
    transcript.write_text(transcript.read_text().replace('"make"', '"mak!"'))
    os.utime(transcript, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert summarise_log(paths, transcripts=True).summary.last_tool == "Bash: mak!"


def test_a_cleaned_run_keeps_the_count_made_before_its_claude_state_went(tmp_path: Path) -> None:
    paths = run_with(tmp_path)
    before = summarise_transcripts(paths)
    for path in sorted(paths.claude_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    paths.claude_dir.rmdir()
    assert summarise_transcripts(paths) == before and before.turns == 6


def test_a_link_to_a_host_file_and_a_fifo_are_not_read(tmp_path: Path) -> None:
    host = tmp_path / "host-secret.jsonl"
    host.write_text(CONVERSATION)
    paths = run_with(tmp_path, "")
    project = claude_project(paths.claude_dir)
    (project / "linked.jsonl").symlink_to(host)
    os.mkfifo(project / "fifo.jsonl")
    (paths.claude_dir / "projects" / "linked-folder").symlink_to(project)
    counted = count_transcripts(paths.claude_dir, find_transcripts(paths.claude_dir))
    assert counted.summary.turns == 0
    assert "not a regular file" in (counted.summary.transcripts_unread or "")
    follower = TranscriptFollower(paths.claude_dir)
    assert follower.read() == []


@pytest.mark.parametrize("plant", NODES)
def test_a_device_or_fifo_swapped_in_after_listing_is_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plant: PlantNode
) -> None:
    paths = run_with(tmp_path)
    listing = find_transcripts(paths.claude_dir)
    follower = TranscriptFollower(paths.claude_dir)
    transcript = claude_project(paths.claude_dir) / f"{SESSION}.jsonl"
    transcript.unlink()
    opens = Opens(plant(transcript), monkeypatch)  # a FIFO has no writer: no open may wait
    counted = count_transcripts(paths.claude_dir, listing)
    assert counted.summary.turns == 0 and not counted.whole
    # The follower lists afresh: shown the listing from before the swap, it reads nothing.
    monkeypatch.setattr(
        "scad.runs.transcripts._follow.find_transcripts", lambda claude_dir: listing
    )
    assert follower.read() == []
    assert opens.flags and opens.for_io == []


def test_a_100_mib_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    paths = run_with(tmp_path, "")
    transcript = claude_project(paths.claude_dir) / f"{SESSION}.jsonl"
    with transcript.open("w") as f:
        f.write(CONVERSATION)
        f.write('{"type":"assistant","message":{"content":[{"type":"text","text":"')
        block = "x" * (1 << 20)
        for _ in range(100):
            f.write(block)
        f.write('"}]}}\n')
        f.write(bash("2026-11-27T12:00:00.000Z", "msg_x", "toolu_x", "after"))
    tracemalloc.start()
    try:
        summary = summarise_transcripts(paths)
        follower = TranscriptFollower(paths.claude_dir)
        followed = [e for _ in range(20) for e in follower.read()]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (summary.turns, summary.last_tool) == (7, "Bash: after")
    assert any("after" in text for e in followed for text in activity_lines(e))
    assert peak < 40 << 20


def test_a_million_tiny_lines_are_read_up_to_the_bound_on_lines(tmp_path: Path) -> None:
    paths = run_with(tmp_path, CONVERSATION + "{}\n" * 1_000_000 + bash("2026-11-27T13:00:00.000Z",
                     "msg_late", "toolu_late", "late"))  # fmt: skip
    summary = summarise_transcripts(paths)
    assert summary.turns == 6  # the line past the bound is not read
    assert (
        summary.transcripts_unread == f"past the {MAX_LINES} lines read from one run's transcripts"
    )


def test_deep_nesting_is_skipped_not_decoded(tmp_path: Path) -> None:
    deep = '{"type":"assistant","message":{"content":' + "[" * 200_000 + "]" * 200_000 + "}}\n"
    paths = run_with(tmp_path, deep + CONVERSATION)
    summary = summarise_transcripts(paths)
    assert (summary.turns, summary.tool_calls) == (6, 5)


def test_a_folder_of_100_000_transcripts_is_named_not_read(tmp_path: Path) -> None:
    paths = run_with(tmp_path)
    crowded = paths.claude_dir / "projects" / "-crowded"
    crowded.mkdir()
    for n in range(100_000):
        os.close(os.open(crowded / f"{n}.jsonl", os.O_CREAT | os.O_WRONLY, 0o600))
    listing = find_transcripts(paths.claude_dir)
    assert len(listing.files) == 1
    assert listing.problem == (
        f"claude/projects/-crowded holds more than {MAX_FOLDER_ENTRIES} entries"
    )
    summary = summarise_transcripts(paths)
    assert summary.turns == 6 and summary.transcripts_unread == listing.problem


def test_the_follower_renders_new_messages_like_a_headless_run(tmp_path: Path) -> None:
    paths = run_with(tmp_path, "")
    transcript = claude_project(paths.claude_dir) / f"{SESSION}.jsonl"
    follower = TranscriptFollower(paths.claude_dir)
    assert follower.read() == []
    first = bash("2026-11-27T10:00:01.000Z", "msg_1", "toolu_1", "pytest -q")
    with transcript.open("a") as f:
        f.write(first + first[:40])  # the second line is still being written
    rendered = [text for e in follower.read() for text in activity_lines(e)]
    assert [text.split(" ", 1)[1] for text in rendered] == ["→ Bash: pytest -q"]
    with transcript.open("a") as f:
        f.write(first[40:] + tool_result("2026-11-27T10:00:02.000Z", "toolu_1", "3 passed"))
    rendered = [text.split(" ", 1)[1] for e in follower.read() for text in activity_lines(e)]
    assert rendered == ["→ Bash: pytest -q", "  ← 3 passed"]
    assert follower.read() == []


def test_escapes_in_a_transcript_reach_no_terminal(tmp_path: Path) -> None:
    paths = run_with(tmp_path, bash("2026-11-27T10:00:01.000Z", "m", "t", "echo \x1b]52;c;x\x07"))
    follower = TranscriptFollower(paths.claude_dir)
    rendered = [text for e in follower.read() for text in activity_lines(e)]
    assert rendered and all("\x1b" not in text for text in rendered)
    assert "\x1b" not in (summarise_transcripts(paths).last_tool or "")


async def test_session_logs_shows_an_interactive_run_s_tool_calls(
    run_cli: Cli, scad_home: Path
) -> None:
    home = Home(scad_home)
    record = add_run(home, "p-tty-Nov27-1000", mode="interactive")
    paths = RunPaths(home, record.run_id)
    Log(paths).scad("created").scad("started")
    (claude_project(paths.claude_dir) / f"{SESSION}.jsonl").write_text(CONVERSATION)
    run_cli.use_engine(scad_home, opening(FakeEngine()))
    for follow in ([], ["-f"]):  # its container is gone: -f has nothing more to wait for
        result = await run_cli("session", "logs", record.run_id, *follow)
        assert result.exit_code == 0, result.stderr
        lines = [line.split(" ", 1)[1] for line in result.stdout.splitlines()]
        assert lines[:2] == ["[scad] created", "[scad] started"]
        assert lines[2:4] == ["→ Bash: step 1", "  ← ok"]
        assert "→ Bash: git commit -qm work" in lines and lines[-1] == "Done."
    tail = await run_cli("session", "logs", record.run_id, "-n", "1")
    assert [line.split(" ", 1)[1] for line in tail.stdout.splitlines()] == ["Done."]


async def test_session_logs_json_says_it_leaves_out_an_interactive_run_s_transcripts(
    run_cli: Cli, scad_home: Path
) -> None:
    """--json prints the run's log as stored; an interactive run's Claude wrote its
    work to transcripts, not the log: that is said, once, on stderr."""
    home = Home(scad_home)
    record = add_run(home, "p-tty-Nov27-1000", mode="interactive")
    paths = RunPaths(home, record.run_id)
    Log(paths).scad("created").scad("started")
    (claude_project(paths.claude_dir) / f"{SESSION}.jsonl").write_text(CONVERSATION)
    headless_run = add_run(home, "p-head-Nov27-1000")
    Log(RunPaths(home, headless_run.run_id)).scad("created")
    run_cli.use_engine(scad_home, opening(FakeEngine()))
    result = await run_cli("session", "logs", record.run_id, "--json")
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["event"] for line in result.stdout.splitlines()] == [
        "created", "started",
    ]  # fmt: skip
    assert result.stderr == (
        "note: --json holds the run's log only: an interactive run's transcripts are left "
        f"out; `scad session logs {record.run_id}` shows them\n"
    )
    quiet = await run_cli("session", "logs", headless_run.run_id, "--json")
    assert quiet.exit_code == 0 and quiet.stderr == ""


async def test_status_and_info_mark_the_cost_estimated(run_cli: Cli, scad_home: Path) -> None:
    home = Home(scad_home)
    record = add_run(home, "p-tty-Nov27-1000", mode="interactive")
    paths = RunPaths(home, record.run_id)
    Log(paths).scad("created")
    (claude_project(paths.claude_dir) / f"{SESSION}.jsonl").write_text(CONVERSATION)
    run_cli.use_engine(scad_home, opening(FakeEngine()))
    status = await run_cli("session", "status", "--all")
    assert "~$0.0226" in status.stdout, status.stdout
    info = await run_cli("session", "info", record.run_id)
    assert "cost       $0.0226 (estimated from tokens)" in info.stdout, info.stdout
