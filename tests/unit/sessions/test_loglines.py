from scad.sessions.loglines import LogLines


def test_whole_lines_keep_their_timestamps() -> None:
    parser = LogLines()
    assert parser.feed("2026-11-27T10:57:51.102755120Z one\n") == [
        ("2026-11-27T10:57:51.102Z", "one")
    ]
    assert parser.feed("2026-11-27T10:57:52.5Z two\n") == [("2026-11-27T10:57:52.500Z", "two")]
    assert parser.finish() == []


def test_long_lines_come_back_whole_with_their_first_timestamp() -> None:
    parser = LogLines()
    assert parser.feed("2026-11-27T10:00:00.100000000Z " + "a" * 16384) == []
    assert parser.feed("2026-11-27T10:00:00.200000000Z " + "a" * 16384) == []
    assert parser.feed("2026-11-27T10:00:00.300000000Z aaa\n") == [
        ("2026-11-27T10:00:00.100Z", "a" * 32771)
    ]


def test_a_character_cut_at_an_entry_boundary_is_rejoined() -> None:
    parser = LogLines()
    parser.feed("2026-11-27T10:00:00.1Z caf")
    # The incremental decoder hands the rest of a cut character over before the next timestamp.
    assert parser.feed("é2026-11-27T10:00:00.2Z !\n") == [("2026-11-27T10:00:00.100Z", "café!")]


def test_output_without_a_final_newline() -> None:
    parser = LogLines()
    assert parser.feed("2026-11-27T10:00:00.1Z a\n2") == [("2026-11-27T10:00:00.100Z", "a")]
    assert parser.finish() == [("2026-11-27T10:00:00.100Z", "2")]
