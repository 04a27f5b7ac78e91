"""The end of a check's output: bounded in bytes and lines, safe to show."""

from __future__ import annotations

from scad.checks.tail import OutputTail


def test_short_output_is_kept_whole() -> None:
    tail = OutputTail(max_bytes=100, max_lines=10)
    tail.add(b"one\ntw")
    tail.add(b"o\n")
    assert tail.text() == "one\ntwo"


def test_only_the_last_lines_are_kept() -> None:
    tail = OutputTail(max_bytes=1000, max_lines=3)
    tail.add(b"".join(b"line %d\n" % n for n in range(50)))
    assert tail.text() == "line 47\nline 48\nline 49"


def test_only_the_last_bytes_are_kept_and_a_cut_line_is_dropped() -> None:
    tail = OutputTail(max_bytes=25, max_lines=100)
    for n in range(10_000):
        tail.add(b"line %05d\n" % n)
    assert tail.text() == "line 09998\nline 09999"
    assert len(tail._kept) <= 50


def test_one_huge_line_is_bounded() -> None:
    tail = OutputTail(max_bytes=16, max_lines=100)
    tail.add(b"x" * 10_000_000)
    assert tail.text() == "x" * 16


def test_controls_are_escaped() -> None:
    tail = OutputTail(max_bytes=100, max_lines=10)
    tail.add(b"\x1b[2Jred\r\nok\xff\n")
    assert tail.text() == "\\x1b[2Jred\nok\\udcff"
