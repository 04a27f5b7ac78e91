"""Demultiplexing the engine's log stream: frames, and characters cut between entries."""

from __future__ import annotations

import struct

from scad.engine._frames import LogEntries, frames


def frame(payload: bytes, stream: int = 1) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def test_frames_and_a_cut_last_frame() -> None:
    body = frame(b"one\n") + frame(b"two\n") + frame(b"three\n")[:7]
    assert frames(body) == [b"one\n", b"two\n"]


def test_a_character_cut_between_entries_is_whole_in_the_next() -> None:
    entries = LogEntries(timestamps=True)
    first, second = "café!\n".encode()[:4], "café!\n".encode()[4:]
    assert [
        entries.decode(b"2026-11-27T10:00:00.1Z " + first),
        entries.decode(b"2026-11-27T10:00:00.2Z " + second),
    ] == ["2026-11-27T10:00:00.1Z caf", "2026-11-27T10:00:00.2Z é!\n"]


def test_bytes_that_are_not_utf8_are_replaced_not_dropped() -> None:
    assert LogEntries(timestamps=False).decode(b"a\xffb\n") == "a\ufffdb\n"
