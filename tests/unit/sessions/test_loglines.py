from scad.sessions.loglines import LogLine, LogLines, after, unix_time


def test_whole_lines_keep_their_timestamps() -> None:
    parser = LogLines()
    assert parser.feed("2026-11-27T10:57:51.102755120Z one\n") == [
        LogLine("2026-11-27T10:57:51.102Z", "one", "2026-11-27T10:57:51.102755120Z")
    ]
    assert parser.feed("2026-11-27T10:57:52.5Z two\n") == [
        LogLine("2026-11-27T10:57:52.500Z", "two", "2026-11-27T10:57:52.5Z")
    ]
    assert parser.finish() == []


def test_long_lines_come_back_whole_with_their_first_and_last_timestamps() -> None:
    parser = LogLines()
    assert parser.feed("2026-11-27T10:00:00.100000000Z " + "a" * 16384) == []
    assert parser.feed("2026-11-27T10:00:00.200000000Z " + "a" * 16384) == []
    assert parser.feed("2026-11-27T10:00:00.300000000Z aaa\n") == [
        LogLine("2026-11-27T10:00:00.100Z", "a" * 32771, "2026-11-27T10:00:00.300000000Z")
    ]


def test_a_character_cut_at_an_entry_boundary_is_rejoined() -> None:
    parser = LogLines()
    parser.feed("2026-11-27T10:00:00.1Z caf")
    # The incremental decoder hands the rest of a cut character over before the next timestamp.
    assert parser.feed("é2026-11-27T10:00:00.2Z !\n") == [
        LogLine("2026-11-27T10:00:00.100Z", "café!", "2026-11-27T10:00:00.2Z")
    ]


def test_output_without_a_final_newline() -> None:
    parser = LogLines()
    assert [line.text for line in parser.feed("2026-11-27T10:00:00.1Z a\n2")] == ["a"]
    assert parser.finish() == [LogLine("2026-11-27T10:00:00.100Z", "2", "2026-11-27T10:00:00.1Z")]


def test_resuming_after_an_entry() -> None:
    assert unix_time("2026-11-27T10:00:00.1Z") == "1795773600.100000000"
    assert unix_time("2026-11-27T10:00:00Z") == "1795773600.000000000"
    last = "2026-11-27T10:00:00.1234Z"
    assert not after("2026-11-27T10:00:00.123400000Z x\n", last)
    assert after("2026-11-27T10:00:00.123400001Z x\n", last)
    assert not after("2026-11-27T09:59:59.9Z x\n", last)
