import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from scad.runs.events import LogLine
from scad.runs.lines import ChunkLines, LogLines, unix_time


def test_whole_lines_keep_their_timestamps() -> None:
    parser = LogLines()
    assert parser.feed(b"2026-11-27T10:57:51.102755120Z one\n") == [
        LogLine("2026-11-27T10:57:51.102Z", b"one", "2026-11-27T10:57:51.102755120Z", 1)
    ]
    assert parser.feed(b"2026-11-27T10:57:52.5Z two\n") == [
        LogLine("2026-11-27T10:57:52.500Z", b"two", "2026-11-27T10:57:52.5Z", 1)
    ]
    assert parser.finish() == []


def test_long_lines_come_back_whole_with_their_first_and_last_timestamps() -> None:
    parser = LogLines()
    assert parser.feed(b"2026-11-27T10:00:00.100000000Z " + b"a" * 16384) == []
    assert parser.feed(b"2026-11-27T10:00:00.200000000Z " + b"a" * 16384) == []
    assert parser.feed(b"2026-11-27T10:00:00.300000000Z aaa\n") == [
        LogLine("2026-11-27T10:00:00.100Z", b"a" * 32771, "2026-11-27T10:00:00.300000000Z", 1)
    ]


def test_a_character_cut_at_an_entry_boundary_is_rejoined() -> None:
    parser = LogLines()
    cut = "café!\n".encode()
    parser.feed(b"2026-11-27T10:00:00.1Z " + cut[:4])
    # The pieces are joined as bytes: the character the engine cut is whole again.
    assert parser.feed(b"2026-11-27T10:00:00.2Z " + cut[4:]) == [
        LogLine("2026-11-27T10:00:00.100Z", "café!".encode(), "2026-11-27T10:00:00.2Z", 1)
    ]


def test_output_without_a_final_newline() -> None:
    parser = LogLines()
    assert [line.data for line in parser.feed(b"2026-11-27T10:00:00.1Z a\n2")] == [b"a"]
    assert parser.finish() == [
        LogLine("2026-11-27T10:00:00.100Z", b"2", "2026-11-27T10:00:00.1Z", 1)
    ]


SAME = "2026-11-27T10:00:00.5Z"
ENTRIES = [
    entry.encode()
    for entry in [
        "2026-11-27T10:00:00.4Z zero\n",
        f"{SAME} one\n",
        f"{SAME} tw",
        f"{SAME} o\n",
        f"{SAME} three\n",
        "2026-11-27T10:00:00.6Z four\n",
    ]
]


def test_entries_sharing_a_timestamp_are_counted() -> None:
    parser = LogLines()
    lines = [line for entry in ENTRIES for line in parser.feed(entry)]
    assert [(line.data, line.end, line.k) for line in lines] == [
        (b"zero", "2026-11-27T10:00:00.4Z", 1),
        (b"one", SAME, 1),
        (b"two", SAME, 3),
        (b"three", SAME, 4),
        (b"four", "2026-11-27T10:00:00.6Z", 1),
    ]


def test_a_catch_up_since_a_shared_timestamp_resumes_after_the_right_line() -> None:
    # The engine's `since` includes the instant itself: it returns entries 1.. again.
    since = ENTRIES[1:]
    for written, k, rest in [(b"one", 1, [b"two", b"three", b"four"]),
                             (b"two", 3, [b"three", b"four"]), (b"three", 4, [b"four"])]:  # fmt: skip
        parser = LogLines(last=SAME, same=k)
        lines = [line for entry in since for line in parser.feed(entry)]
        assert [line.data for line in lines] == rest, written
        # Resumed, the lines count their stamp's entries on from where the log stood.
        full = LogLines()
        whole = [line for entry in ENTRIES for line in full.feed(entry)]
        assert [(line.end, line.k) for line in lines] == [(w.end, w.k) for w in whole][-len(rest) :]
    # Another spelling of the same instant counts as the same.
    assert LogLines(last=SAME, same=1).feed(b"2026-11-27T10:00:00.500000000Z x\n") == []


def test_live_chunks_are_split_into_lines_stamped_on_receipt() -> None:
    chunks = ChunkLines()
    assert chunks.feed(b'{"a":') == []
    first = chunks.feed(b"1}\nsecond\nthi")
    assert [(line.data, line.end) for line in first] == [(b'{"a":1}', None), (b"second", None)]
    assert first[0].ts.endswith("Z")
    assert [line.data for line in chunks.finish()] == [b"thi"]


def test_resuming_after_an_entry() -> None:
    assert unix_time("2026-11-27T10:00:00.1Z") == "1795773600.100000000"
    assert unix_time("2026-11-27T10:00:00Z") == "1795773600.000000000"


def test_a_line_longer_than_the_limit_is_cut_and_still_counts_as_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent printing without end cannot make scad hold more than MAX_LINE of it."""
    monkeypatch.setattr("scad.runs.lines.MAX_LINE", 8)
    live = ChunkLines()
    got = [line.data for chunk in (b"0123", b"456789", b"abcdef\nshort\n", b"x" * 20, b"\n")
           for line in live.feed(chunk)]  # fmt: skip
    assert got == [b"01234567", b"short", b"xxxxxxxx"]
    logged = LogLines()
    entries = [
        b"2026-11-27T10:00:00.1Z 0123456",
        b"2026-11-27T10:00:00.2Z 789abc\nok\n" + b"y" * 30 + b"\n",
    ]
    got = [line.data for entry in entries for line in logged.feed(entry)]
    assert got == [b"01234567", b"ok", b"yyyyyyyy"]
    whole = [b"2026-11-27T10:00:00.1Z " + b"z" * 20 + b"\n", b"2026-11-27T10:00:00.2Z ok\n"]
    assert [line.data for line in LogLines().feed_all(whole)] == [b"zzzzzzzz", b"ok"]


@given(
    pieces=st.lists(
        st.tuples(st.integers(min_value=0, max_value=2), st.sampled_from(["a", "b\n", "\n"])),
        max_size=30,
    )
)
def test_a_parse_resumed_after_any_line_gives_the_lines_after_it(
    pieces: list[tuple[int, str]],
) -> None:
    """Where a catch-up resumes (the last line's ``end`` and ``k``), however entries
    share timestamps (an entry is a line, or a piece of a long one, as the engine
    logs them): the engine sends every entry from that instant on, and the
    lines after the last one written come out, each once, counted as before."""
    stamps, second = [], 0
    for step, _ in pieces:
        second += step  # several entries to one instant, as the engine stamps them
        stamps.append(f"2026-11-27T10:00:{second:02d}.5Z")
    entries = [f"{stamp} {text}".encode() for stamp, (_, text) in zip(stamps, pieces, strict=True)]
    whole = LogLines()
    lines = [line for entry in entries for line in whole.feed(entry)]
    for written, line in enumerate(lines):
        assert line.end is not None
        since = [e for e, stamp in zip(entries, stamps, strict=True) if stamp >= line.end]
        resumed = LogLines(last=line.end, same=line.k or 0)
        rest = [later for entry in since for later in resumed.feed(entry)]
        assert rest == lines[written + 1 :]


_STAMPS = ["2026-11-27T10:00:00.1Z ", "2026-11-27T10:00:00.1Z ", "2026-11-27T10:00:01Z ", ""]


@given(
    st.lists(
        st.tuples(st.sampled_from(_STAMPS), st.text(alphabet="ab\n\x00é", max_size=8)),
        max_size=12,
    ),
    st.integers(min_value=0, max_value=3),
)
@example([(_STAMPS[0], "a\n"), (_STAMPS[1], "b\n"), (_STAMPS[2], "\n")], 1)  # all whole
@example([(_STAMPS[0], "a\n"), ("x", _STAMPS[2] + "b\n")], 0)  # a stamp not at the start
@example([(_STAMPS[0], "a"), (_STAMPS[2], "b\n" + _STAMPS[2] + "c\n")], 0)  # a piece first
@example([(_STAMPS[0], "a\n"), ("2026-11-27T10:00:00." + "1" * 27 + "Z ", "b\n")], 0)
def test_entries_fed_together_give_the_lines_fed_one_by_one(
    entries: list[tuple[str, str]], same: int
) -> None:
    """The shortcuts of a batch of entries (all whole lines, parsed together; one whole
    line) read exactly as the general path."""
    texts = [(stamp + text).encode() for stamp, text in entries]
    last = "2026-11-27T10:00:00.1Z" if same else None
    one_by_one, together = LogLines(last=last, same=same), LogLines(last=last, same=same)
    expected = [line for text in texts for line in one_by_one.feed(text)]
    assert together.feed_all(texts) == expected
    assert together.finish() == one_by_one.finish()
