"""The event log: envelopes, exactly-once ingestion whoever writes and wherever a writer
dies, tolerant reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scad.home import Home
from scad.runs import summaries
from scad.runs.envelopes import Created, Exited, Resumed, Started, Stopped
from scad.runs.events import (
    LogLine,
    Position,
    append_event,
    ingest,
    is_supervised,
    mark_lost,
    position,
    supervising,
)
from scad.runs.logread import read_all_events, read_events
from scad.runs.records import RunPaths
from tests.unit.test_summaries import cache_of

pytestmark = pytest.mark.anyio

TS = "2026-11-27T10:00:00.000Z"
LINES = [
    LogLine(TS, json.dumps({"type": "system", "subtype": "init", "i": i}).encode())
    for i in range(50)
]


def at(envelope: object, field: str) -> object:
    """A field of a line of the log, None for a kind of line without it."""
    return getattr(envelope, field, None)


def append_raw(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


def run_paths(tmp_path: Path) -> RunPaths:
    paths = RunPaths(Home(tmp_path), "r1")
    paths.root.mkdir(parents=True)
    return paths


async def test_claude_lines_are_kept_verbatim_in_envelopes(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    raw = '{"type":"assistant","message":{"content":[{"type":"text","text":"h\\u00e9 \\"q\\""}]}}'
    await append_event(paths, Started(cid="c1" * 10))
    stamped = LogLine("2026-11-27T10:00:02.000Z", b"not json", "2026-11-27T10:00:02.1Z", 2)
    await ingest(paths, "c1" * 10, 0, [LogLine("2026-11-27T10:00:01.000Z", raw.encode()), stamped])
    lines = paths.events.read_text().splitlines()
    assert lines[1] == (
        '{"seq":2,"ts":"2026-11-27T10:00:01.000Z","src":"claude","cid":"c1c1c1c1c1c1","n":0,'
        '"data":' + raw + "}"
    )
    assert lines[2] == (
        '{"seq":3,"ts":"2026-11-27T10:00:02.000Z","src":"claude","cid":"c1c1c1c1c1c1","n":1,'
        '"end":"2026-11-27T10:00:02.1Z","k":2,"text":"not json"}'
    )
    envelopes, _ = await read_events(paths)
    assert [(e.seq, e.src, e.kind, e.cid, at(e, "n"), at(e, "text")) for e in envelopes] == [
        (1, "scad", "started", "c1c1c1c1c1c1", None, None),
        (2, "claude", None, "c1c1c1c1c1c1", 0, None),
        (3, "claude", None, "c1c1c1c1c1c1", 1, "not json"),
    ]
    assert envelopes[1].payload()["message"]["content"][0]["text"] == 'hé "q"'


async def test_concurrent_writers_write_each_line_once(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)

    async def writer(step: int) -> None:
        # Writers see the output in different batches, as the supervisor and catch-ups do.
        for start in range(0, len(LINES), step):
            await ingest(paths, "c1", start, LINES[start : start + step])
        await ingest(paths, "c1", 0, LINES, exit=Exited(exit_code=0))

    async with anyio.create_task_group() as tg:
        for step in (1, 3, 7, 50):
            tg.start_soon(writer, step)
    envelopes = await read_all_events(paths)
    assert [e.seq for e in envelopes] == list(range(1, 52))
    assert [at(e, "n") for e in envelopes[:-1]] == list(range(50))
    assert [e.payload()["i"] for e in envelopes[:-1]] == list(range(50))
    assert (envelopes[-1].kind, envelopes[-1].exit_code) == ("exited", 0)


async def test_the_position_is_read_back_from_the_log(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    assert await position(paths, "c1") == Position()
    await append_event(paths, Started(cid="c1"))
    await ingest(paths, "c1", 0, [*LINES[:2], LogLine(TS, b"x", "2026-11-27T10:00:01Z", 3)])
    assert await position(paths, "c1") == Position(next_line=3, end="2026-11-27T10:00:01Z", k=3)
    await append_event(paths, Stopped())  # events that say nothing of lines do not count
    assert (await position(paths, "c1")).next_line == 3
    await ingest(paths, "c1", 3, [], exit=Exited(exit_code=0))
    assert (await position(paths, "c1")).done
    # Once exited, nothing more is written for that container, however often asked.
    assert await ingest(paths, "c1", 3, LINES[3:5], exit=Exited(exit_code=0)) == 0
    await append_event(paths, Resumed(cid="c2"))
    assert await position(paths, "c2") == Position()


async def test_a_new_container_starts_counting_again(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    await append_event(paths, Started(cid="c1"))
    await ingest(paths, "c1", 0, LINES[:2], exit=Exited(exit_code=0))
    await append_event(paths, Resumed(cid="c2"))
    await ingest(paths, "c2", 0, LINES[:1], exit=Exited(exit_code=137, oom=True, stderr="boom"))
    envelopes = await read_all_events(paths)
    assert [
        (e.kind, e.cid, at(e, "n"), at(e, "exit_code"), at(e, "oom"), at(e, "stderr"))
        for e in envelopes
    ] == [
        ("started", "c1", None, None, None, None),
        (None, "c1", 0, None, None, None),
        (None, "c1", 1, None, None, None),
        ("exited", "c1", None, 0, False, None),
        ("resumed", "c2", None, None, None, None),
        (None, "c2", 0, None, None, None),
        ("exited", "c2", None, 137, True, "boom"),
    ]


async def test_blank_lines_count_and_gaps_wait_for_their_writer(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    # Batches as the live supervisor hands them over, one ending in a blank line.
    assert await ingest(paths, "c1", 0, [LINES[0], LogLine(TS, b"  ")]) == 2
    assert await ingest(paths, "c1", 2, LINES[2:4]) == 2
    # Lines 6.. cannot be written before 4 and 5 are; nor the exit after them.
    assert await ingest(paths, "c1", 6, LINES[6:8], exit=Exited(exit_code=0)) == 0
    assert await ingest(paths, "c1", 4, LINES[4:8], exit=Exited(exit_code=0)) == 4
    envelopes = await read_all_events(paths)
    assert [at(e, "n") for e in envelopes] == [*range(8), None]
    assert (envelopes[1].text, envelopes[-1].kind) == ("  ", "exited")


async def test_a_restarted_container_goes_on_after_its_first_exit(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    first_life, second_life = "2026-11-27T10:00:00.1Z", "2026-11-27T10:05:00.2Z"
    await ingest(paths, "c1", 0, LINES[:2], exit=Exited(exit_code=143, life=first_life))
    # The same life is over; a catch-up that knows no life does not write either.
    assert await ingest(paths, "c1", 2, LINES[2:3], life=first_life) == 0
    assert await ingest(paths, "c1", 2, LINES[2:3]) == 0
    assert await ingest(paths, "c1", 2, LINES[2:4], exit=Exited(exit_code=0, life=second_life)) == 2
    envelopes = await read_all_events(paths)
    assert [(at(e, "n"), e.kind, at(e, "life")) for e in envelopes] == [
        (0, None, None), (1, None, None), (None, "exited", first_life),
        (2, None, None), (3, None, None), (None, "exited", second_life),
    ]  # fmt: skip
    assert (await position(paths, "c1")).ended(second_life)


async def test_a_lost_container_is_recorded_once(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    await ingest(paths, "c1", 0, LINES[:1])
    for _ in range(2):
        await mark_lost(paths, "c1", "gone")
    assert [e.kind for e in await read_all_events(paths)] == [None, "lost"]
    assert (await position(paths, "c1")).ended(None)
    assert await ingest(paths, "c1", 1, LINES[1:2]) == 0


async def test_reader_tolerates_partial_and_unknown_lines(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    paths.events.write_text(
        '{"seq":1,"ts":"t","src":"scad","event":"created"}\n'
        '{"seq":2,"ts":"t","src":"future","kind":"new","extra":[1]}\n'
        "garbage that is not json\n"
        '{"seq":4,"ts":"t","src":"claude","data":{"type":"some_new_type"}}\n'
        '{"seq":5,"ts":"t","src":"cla'
    )
    envelopes, offset = await read_events(paths)
    assert [e.seq for e in envelopes] == [1, 2, 4]
    append_raw(paths.events, 'ude","data":{}}\n')
    more, _ = await read_events(paths, offset)
    assert [e.seq for e in more] == [5]


async def test_reads_come_in_bounded_chunks(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    await ingest(paths, "c1", 0, LINES)
    first, offset = await read_events(paths, limit=1000)
    assert 0 < len(first) < 50 and offset < paths.events.stat().st_size
    rest = await read_all_events(paths)
    assert len(rest) == 50
    # A single line longer than the chunk is still read whole.
    before = paths.events.stat().st_size
    await ingest(paths, "c1", 50, [LogLine(TS, json.dumps({"big": "x" * 5000}).encode())])
    (big,), _ = await read_events(paths, before, limit=100)
    assert big.n == 50


async def test_reading_a_missing_log(tmp_path: Path) -> None:
    assert await read_events(RunPaths(Home(tmp_path), "none")) == ([], 0)


async def test_a_line_cut_short_by_a_killed_writer_does_not_swallow_the_next(
    tmp_path: Path,
) -> None:
    paths = run_paths(tmp_path)
    await append_event(paths, Created())
    append_raw(paths.events, '{"seq":2,"ts":"t","src":"scad","ev')
    await append_event(paths, Started())
    envelopes = await read_all_events(paths)
    assert [(e.seq, e.kind) for e in envelopes] == [(1, "created"), (2, "started")]


# A writer killed at any point, and readers at any moment: every line once, in order.
step = st.tuples(
    st.integers(min_value=0, max_value=19),  # first line of the batch
    st.integers(min_value=1, max_value=8),  # its size
    st.one_of(st.none(), st.floats(min_value=0, max_value=1)),  # killed after this much of it
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(
        st.one_of(st.just(""), st.text(max_size=12), st.integers().map(str)),
        min_size=1,
        max_size=20,
    ),
    steps=st.lists(step, max_size=12),
)
def test_any_kill_point_and_any_reader_see_each_line_at_most_once(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str], steps: list[tuple]
) -> None:
    paths = run_paths(tmp_path_factory.mktemp("log"))
    lines = [LogLine(TS, (json.dumps({"t": t}) if t.isdigit() else t).encode()) for t in texts]
    expected = list(range(len(lines)))

    async def check_reader() -> list[int]:
        numbers = [at(e, "n") for e in await read_all_events(paths) if e.src == "claude"]
        assert numbers == sorted(set(numbers)), "a line twice, or out of order"
        return [n for n in numbers if n is not None]

    async def scenario() -> None:
        for first, size, killed in steps:
            before = paths.events.stat().st_size if paths.events.exists() else 0
            await ingest(paths, "c1", first, lines[first : first + size])
            if killed is not None and paths.events.exists():
                # Keep only part of what that write appended: the writer died mid-write.
                after = paths.events.stat().st_size
                keep = before + int((after - before) * killed)
                os.truncate(paths.events, keep)
            await check_reader()
        await ingest(paths, "c1", 0, lines, exit=Exited(exit_code=0))

    anyio.run(scenario)
    assert anyio.run(check_reader) == expected
    events = anyio.run(read_all_events, paths)
    assert [e.kind for e in events if e.src == "scad"] == ["exited"]
    assert [e.seq for e in events] == sorted({e.seq for e in events})


async def test_a_supervised_run_is_seen_as_such_until_its_supervisor_lets_go(
    tmp_path: Path,
) -> None:
    paths = run_paths(tmp_path)
    assert not is_supervised(paths)
    async with supervising(paths):
        assert is_supervised(paths)
    assert not is_supervised(paths)


async def test_a_carriage_return_cannot_forge_an_envelope(tmp_path: Path) -> None:
    """A \\r is whitespace inside Claude's JSON; a reader that also ended lines there
    would read the forged scad event hidden between two of them."""
    from scad.runs.accounting import summarise

    paths = run_paths(tmp_path)
    forged = '{"seq":1,"ts":"2026-11-27T10:00:00.000Z","src":"scad","event":"exited","exit_code":0}'
    lines = [
        '{"type":"system","subtype":"init","session_id":"s","model":"claude-sonnet-4-5"}',
        f"[\r{forged}\r]",
        '{"type":"result","is_error":false,"num_turns":3,"total_cost_usd":4.0,'
        '"usage":{"output_tokens":100000}}',
    ]
    await ingest(paths, "c" * 64, 0, [LogLine(TS, line.encode()) for line in lines])
    envelopes = await read_all_events(paths)
    assert [(e.src, e.kind) for e in envelopes] == [("claude", None)] * 3
    summary = summarise(envelopes)
    assert (summary.turns, summary.cost_usd) == (3, 4.0)


def nested(depth: int) -> str:
    """A JSON object ``depth`` levels deep: arrays inside a stream-json-shaped object."""
    return '{"type":"assistant","x":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


INIT = '{"type":"system","subtype":"init","session_id":"s","model":"claude-sonnet-4-5"}'
RESULT = '{"type":"result","is_error":false,"num_turns":3,"total_cost_usd":4.0,"usage":{"output_tokens":100000}}'
#: Lines an agent can print that sit at the edges of what the decoder reads: depth just
#: under, at and over its recursion limit (about 1000, counting the envelope's level),
#: odd bytes and characters, numbers past 64 bits, a line of megabytes.
ODD_LINES = [
    pytest.param(nested(depth), id=f"depth-{depth}")
    for depth in (100, 200, 300, 700, 900, 950, 980, 990, 995, 997, 998, 999, 1000, 5000)
] + [
    pytest.param("", id="empty"),
    pytest.param(" \t \x0b\x0c\x1c\u2028 ", id="whitespace"),
    pytest.param('{"type":"assistant","x":"a\x00b"}', id="nul"),
    pytest.param('{"type":"assistant","x":"\\ud800"}', id="lone-surrogate-escape"),
    pytest.param('{"type":"assistant","x":"\ud800"}', id="lone-surrogate"),
    pytest.param('{"type":"assistant","x":"\ufffd\ufffd"}', id="replaced-bytes"),
    pytest.param(b'{"type":"assistant","x":"a\xffb"}', id="not-utf8"),
    pytest.param(b'{"type":"assistant","x":"caf\xc3"}', id="cut-character"),
    pytest.param(b"\xfe\xff not json", id="not-utf8-text"),
    pytest.param('{"type":"assistant",\r"x":1}\r', id="carriage-returns"),
    pytest.param('{"type":"assistant","x":"\u2028\u2029\x85"}', id="line-separators"),
    pytest.param('{"type":"assistant","x":123456789012345678901234567890}', id="bigint"),
    pytest.param('{"type":"assistant","x":1e999}', id="huge-float"),
    pytest.param('{"type":"result","num_turns":99999999999999999999999}', id="bigint-count"),
    pytest.param('{"type":"assistant","x":"' + "y" * (3 << 20) + '"}', id="megabytes"),
    pytest.param("[" * (3 << 20), id="megabytes-deep"),
]


def printed(line: str | bytes) -> bytes:
    """The bytes a program prints for ``line``: a lone surrogate is printed as its
    three bytes, which are not UTF-8."""
    return line if isinstance(line, bytes) else line.encode(errors="surrogatepass")


@pytest.mark.parametrize("odd", ODD_LINES)
async def test_what_the_writer_stores_every_reader_reads_back(
    tmp_path: Path, odd: str | bytes
) -> None:
    """Lines written one batch at a time, as the live supervisor writes them: each write
    finds its place from the lines before, whatever an agent printed in them."""
    from scad.runs.summaries import summarise_log

    paths = run_paths(tmp_path)
    cid = "c" * 64
    await append_event(paths, Started(cid=cid))
    lines = [INIT, odd, '{"type":"user"}', RESULT]
    for n, line in enumerate(lines):
        await ingest(paths, cid, n, [LogLine(TS, printed(line))])
        assert (await position(paths, cid)).next_line == n + 1
    await ingest(paths, cid, len(lines), [], exit=Exited(exit_code=0))
    envelopes = await read_all_events(paths)
    assert [(e.src, e.kind, at(e, "n")) for e in envelopes] == [
        ("scad", "started", None),
        *[("claude", None, n) for n in range(len(lines))],
        ("scad", "exited", None),
    ]
    assert [e.seq for e in envelopes] == list(range(1, len(lines) + 3))
    stored = envelopes[2]
    # Bytes that are not UTF-8 (a lone surrogate has none) are kept as the replacement
    # any decoder makes.
    kept = printed(odd).decode(errors="replace")
    assert stored.text == kept or stored.payload() == json.loads(kept)
    summary = await anyio.to_thread.run_sync(summarise_log, paths)
    assert (summary.outcome, summary.summary.turns, summary.summary.cost_usd) == (
        "succeeded", 3, 4.0,
    )  # fmt: skip


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    odd=st.one_of(
        st.text(),
        st.integers(min_value=990, max_value=1010).map(nested),
        st.recursive(
            st.one_of(st.none(), st.integers(), st.floats(), st.text()),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        ).map(json.dumps),
    )
)
def test_any_line_an_agent_prints_is_read_back_and_keeps_the_count(
    tmp_path_factory: pytest.TempPathFactory, odd: str
) -> None:
    paths = run_paths(tmp_path_factory.mktemp("log"))

    async def scenario() -> list:
        for n, line in enumerate([odd, RESULT]):
            await ingest(paths, "c1", n, [LogLine(TS, line.encode())])
        await ingest(paths, "c1", 2, [], exit=Exited(exit_code=0))
        return await read_all_events(paths)

    envelopes = anyio.run(scenario)
    assert [(at(e, "n"), e.kind) for e in envelopes] == [(0, None), (1, None), (None, "exited")]
    assert envelopes[1].payload()["total_cost_usd"] == 4.0


async def test_no_nesting_depth_blinds_the_log(tmp_path: Path) -> None:
    """Every depth around the decoder's limit, whichever stack the writer and the
    readers decode it in: the line after it and the exit still land and read back."""
    for depth in range(940, 1010):
        paths = RunPaths(Home(tmp_path), f"r{depth}")
        paths.root.mkdir(parents=True)
        for n, line in enumerate([nested(depth), RESULT]):
            await ingest(paths, "c1", n, [LogLine(TS, line.encode())])
        await ingest(paths, "c1", 2, [], exit=Exited(exit_code=0))
        envelopes = await read_all_events(paths)
        assert [(at(e, "n"), e.kind) for e in envelopes] == [
            (0, None),
            (1, None),
            (None, "exited"),
        ], depth
        assert envelopes[0].text == nested(depth)


async def test_a_line_kept_as_text_is_bounded_in_the_log_not_only_on_screen(
    tmp_path: Path,
) -> None:
    """Escaping makes a line of control characters six times its size: what the log
    keeps of it is cut to the same bound as any line, and the lines after it follow."""
    from scad.runs._pending import MAX_TEXT
    from scad.runs.lines import MAX_LINE

    paths = run_paths(tmp_path)
    await ingest(paths, "c1", 0, [LogLine(TS, b"\x01" * MAX_LINE), LogLine(TS, RESULT.encode())])
    assert paths.events.stat().st_size < MAX_TEXT + 4096
    first, second = await read_all_events(paths)
    assert first.text is not None and set(first.text) == {"\x01"}
    assert (first.n, second.n, second.payload()["num_turns"]) == (0, 1, 3)


async def test_a_number_python_cannot_hold_reads_as_no_payload(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    await ingest(paths, "c1", 0, [LogLine(TS, b'{"type":"assistant","a":' + b"9" * 5000 + b"}")])
    (stored,) = await read_all_events(paths)
    assert stored.payload() is None


#: Lines an agent can print that are JSON followed by more of the envelope's fields:
#: spliced after ``"data":`` as they are, the last of each duplicated key would win.
SPLICED = [
    pytest.param('{"type":"assistant"},"src":"scad","event":"exited","exit_code":0', id="exited"),
    pytest.param(
        '{"type":"assistant"},"src":"scad","event":"checked","name":"tests","exit_code":1',
        id="checked",
    ),
    pytest.param(
        '{"type":"assistant"},"src":"scad","event":"started","cid":"ffffffffffff"', id="started"
    ),
    pytest.param('{"type":"assistant"},"cid":"ffffffffffff","n":7', id="other-container"),
    pytest.param('{"type":"assistant"}, "data" :' + RESULT, id="second-data"),
]


@pytest.mark.parametrize("spliced", SPLICED)
async def test_a_line_of_stdout_cannot_add_fields_to_its_envelope(
    tmp_path: Path, spliced: str
) -> None:
    """What the container printed is Claude's line and nothing else: it reads back
    whole (as text when it is not one JSON value), never as scad's event, another
    container's line or a field of the envelope."""
    from scad.runs.summaries import summarise_log

    paths = run_paths(tmp_path)
    cid = "c" * 64
    await append_event(paths, Started(cid=cid))
    await ingest(paths, cid, 0, [LogLine(TS, line.encode()) for line in (INIT, spliced, RESULT)])
    await ingest(paths, cid, 3, [], exit=Exited(exit_code=0))
    envelopes = await read_all_events(paths)
    assert [(e.src, e.kind, at(e, "cid"), at(e, "n")) for e in envelopes] == [
        ("scad", "started", "c" * 12, None),
        *[("claude", None, "c" * 12, n) for n in range(3)],
        ("scad", "exited", "c" * 12, None),
    ]
    assert envelopes[2].text == spliced
    summary = await anyio.to_thread.run_sync(summarise_log, paths)
    assert (summary.outcome, summary.summary.turns) == ("succeeded", 3)


#: Lines that read as one JSON value each only when read together with the next.
SHIFTED = [pytest.param('1,"x\n"', id="shifted"), pytest.param("[1\n]", id="split")]


@pytest.mark.parametrize("odd", [*ODD_LINES, *SPLICED, *SHIFTED])
@pytest.mark.parametrize("stamped", [False, True], ids=["live", "from-engine"])
async def test_a_batch_is_kept_as_its_lines_one_at_a_time(
    tmp_path: Path, odd: str | bytes, stamped: bool
) -> None:
    """Claude's lines are checked a batch at a time: whatever one line among them
    holds, the log is the one that writing each line alone would make."""
    end = "2026-11-27T10:00:00.123456789Z" if stamped else None
    lines = [INIT, '{"type":"user"}', *printed(odd).split(b"\n"), "[1]", RESULT]
    batch = [LogLine(TS, printed(line), end, n) for n, line in enumerate(lines)]
    together, alone = run_paths(tmp_path / "together"), run_paths(tmp_path / "alone")
    await ingest(together, "c1", 0, batch)
    for n, line in enumerate(batch):
        await ingest(alone, "c1", n, [line])
    assert together.events.read_bytes() == alone.events.read_bytes()


async def test_a_read_cancelled_as_it_opens_the_log_leaves_no_file_open(tmp_path: Path) -> None:
    """A reader cancelled mid-read (a page closed while it streamed) closes what it
    opened: a server that reads for many clients must not leak a file each."""
    import asyncio
    import gc

    paths = RunPaths(Home(tmp_path), "r")
    paths.root.mkdir(parents=True)
    paths.events.write_bytes(
        b'{"seq":1,"ts":"2026-11-27T10:00:00.000Z","src":"scad","event":"started"}\n'
    )
    for _ in range(50):
        with anyio.CancelScope() as scope:
            scope.cancel()
            await read_events(paths)
    # Every read a worker thread began has ended; what it opened and dropped is collected.
    await asyncio.get_running_loop().shutdown_default_executor()
    gc.collect()


@pytest.mark.parametrize("end", ["exited", "lost"])
async def test_a_container_s_end_leaves_the_run_summed_up_to_the_log_s_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, end: str
) -> None:
    paths = run_paths(tmp_path)
    await append_event(paths, Started(cid="c1"))
    result = {"type": "result", "num_turns": 4, "is_error": False, "total_cost_usd": 0.0}
    await ingest(paths, "c1", 0, [LINES[0], LogLine(TS, json.dumps(result).encode())])
    assert not (paths.root / "summary.json").exists()  # a line at a time pays no summing up
    if end == "exited":
        await ingest(paths, "c1", 2, [], exit=Exited(exit_code=0))
    else:
        await mark_lost(paths, "c1", "gone")
    assert cache_of(paths)["offset"] == paths.events.stat().st_size
    reads: list[int] = []
    real = summaries.fold_bytes
    monkeypatch.setattr(summaries, "fold_bytes", lambda *a: reads.append(a[2]) or real(*a))
    look = summaries.summarise_log(paths)
    assert reads == []  # the look read no log
    assert look.summary.turns == 4
    assert look.outcome == ("succeeded" if end == "exited" else "crashed")
