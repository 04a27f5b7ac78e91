"""The event log: envelopes, exactly-once ingestion under concurrency, tolerant reads."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from scad.events import IngestState, append_event, ingest_claude_lines, ingest_state, read_events
from scad.home import Home
from scad.runs import RunPaths

LINES = [
    (
        "2026-11-27T10:00:00.000Z",
        json.dumps({"type": "system", "subtype": "init", "n": i}),
        f"end-{i}",
    )
    for i in range(50)
]


def run_paths(tmp_path: Path) -> RunPaths:
    paths = RunPaths(Home(tmp_path), "r1")
    paths.root.mkdir(parents=True)
    return paths


def test_claude_lines_are_kept_verbatim_in_envelopes(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    raw = '{"type":"assistant","message":{"content":[{"type":"text","text":"h\\u00e9 \\"q\\""}]}}'
    append_event(paths, "created")
    ingest_claude_lines(
        paths,
        "c1",
        0,
        [("2026-11-27T10:00:01.000Z", raw, "e1"), ("2026-11-27T10:00:02.000Z", "not json", "e2")],
    )
    lines = paths.events.read_text().splitlines()
    assert lines[1] == '{"seq":2,"ts":"2026-11-27T10:00:01.000Z","src":"claude","data":' + raw + "}"
    envelopes, _ = read_events(paths)
    assert [(e.seq, e.src, e.event, e.text) for e in envelopes] == [
        (1, "scad", "created", None),
        (2, "claude", None, None),
        (3, "claude", None, "not json"),
    ]


def test_concurrent_ingestion_writes_each_line_once(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)

    def reader(step: int) -> None:
        # Readers see the output in different batches, as followers and catch-ups do.
        for start in range(0, len(LINES), step):
            ingest_claude_lines(paths, "c1", start, LINES[start : start + step])
        ingest_claude_lines(paths, "c1", 0, LINES, exit_code=0)

    threads = [threading.Thread(target=reader, args=(step,)) for step in (1, 3, 7, 50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    envelopes, _ = read_events(paths)
    assert [e.seq for e in envelopes] == list(range(1, 52))
    assert [e.payload()["n"] for e in envelopes[:-1]] == list(range(50))
    assert (envelopes[-1].event, envelopes[-1].exit_code) == ("exited", 0)


def test_the_position_follows_the_last_line_and_the_container(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    assert ingest_state(paths, "c1") == IngestState()
    ingest_claude_lines(paths, "c1", 0, LINES[:3])
    assert ingest_state(paths, "c1") == IngestState(
        seq=3, container_id="c1", claude_lines=3, last_entry="end-2"
    )
    ingest_claude_lines(paths, "c1", 3, [], exit_code=0)
    assert ingest_state(paths, "c1").exited
    assert ingest_state(paths, "c2") == IngestState(seq=4)


def test_a_new_container_starts_counting_again(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    ingest_claude_lines(paths, "c1", 0, LINES[:2], exit_code=0)
    ingest_claude_lines(paths, "c2", 0, LINES[:1], exit_code=1, detail="boom")
    envelopes, _ = read_events(paths)
    assert [(e.event, e.exit_code, e.detail) for e in envelopes] == [
        (None, None, None),
        (None, None, None),
        ("exited", 0, None),
        (None, None, None),
        ("exited", 1, "boom"),
    ]


def test_reader_tolerates_partial_and_unknown_lines(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    paths.events.write_text(
        '{"seq":1,"ts":"t","src":"scad","event":"created"}\n'
        '{"seq":2,"ts":"t","src":"future","kind":"new","extra":[1]}\n'
        "garbage that is not json\n"
        '{"seq":4,"ts":"t","src":"claude","data":{"type":"some_new_type"}}\n'
        '{"seq":5,"ts":"t","src":"cla'
    )
    envelopes, offset = read_events(paths)
    assert [e.seq for e in envelopes] == [1, 2, 4]
    with open(paths.events, "a") as f:
        f.write('ude","data":{}}\n')
    more, _ = read_events(paths, offset)
    assert [e.seq for e in more] == [5]


def test_reading_a_missing_log(tmp_path: Path) -> None:
    assert read_events(RunPaths(Home(tmp_path), "none")) == ([], 0)


def test_a_line_cut_short_by_a_killed_writer_does_not_swallow_the_next(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    append_event(paths, "created")
    with open(paths.events, "a") as f:
        f.write('{"seq":2,"ts":"t","src":"scad","ev')
    append_event(paths, "started")
    envelopes, _ = read_events(paths)
    assert [e.event for e in envelopes] == ["created", "started"]
