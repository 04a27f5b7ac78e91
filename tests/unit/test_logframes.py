"""Demultiplexing the engine's log stream: frames, the engine's own errors among
them, and untimestamped entries' text with characters cut between them."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator

import pytest

from scad.engine._frames import Frames, LogTexts, frames
from scad.engine._logs import entries as log_entries
from scad.engine._logs import last_texts
from scad.errors import LogUnavailable

pytestmark = pytest.mark.anyio


def frame(payload: bytes, stream: int = 1) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def test_frames_and_a_cut_last_frame() -> None:
    body = frame(b"one\n") + frame(b"two\n") + frame(b"three\n")[:7]
    assert frames(body) == Frames([b"one\n", b"two\n"], None, 2 * 12)


def test_the_engines_own_word_ends_the_frames() -> None:
    body = frame(b"out\n", 1) + frame(b"err\n", 2) + frame(b"engine\n", 3) + frame(b"after\n")
    assert frames(body) == Frames([b"out\n", b"err\n"], b"engine\n", 2 * 12 + 15)


class Body:
    """A log response whose body arrives in the given chunks."""

    def __init__(self, *chunks: bytes) -> None:
        self.content = self
        self._chunks = chunks

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


async def entries_of(*chunks: bytes) -> list[list[bytes]]:
    found = []
    async for entries in log_entries(Body(*chunks).iter_any()):
        found.append(entries)
    return found


async def test_the_engines_own_error_is_raised_after_the_entries_before_it() -> None:
    """A swarm manager cut off from a task's node says so in the log's third stream:
    never the task's output, the entries before it kept."""
    said = b"Error grabbing logs: node 0amef is not available\n"
    first = frame(b"one\n", 2) + frame(b"two\n", 2)[:5]
    rest = frame(b"two\n", 2)[5:] + frame(said, 3) + frame(b"after\n", 2)
    found: list[list[bytes]] = []
    with pytest.raises(LogUnavailable, match=r"node 0amef is not available$"):
        async for entries in log_entries(Body(first, rest).iter_any()):
            found.append(entries)
    assert found == [[b"one\n"], [b"two\n"]]


async def test_a_stream_without_the_engines_word_is_all_entries() -> None:
    body = frame(b"a\n", 1) + frame(b"b\n", 2)
    assert await entries_of(body[:3], body[3:]) == [[b"a\n", b"b\n"]]


async def test_the_engines_word_is_one_printable_line() -> None:
    with pytest.raises(LogUnavailable) as raised:
        await entries_of(frame(b"bad\x1b[2J\nsecond line\n", 3))
    assert "\x1b" not in str(raised.value) and "\n" not in str(raised.value)


def test_a_character_cut_between_entries_is_whole_in_the_next() -> None:
    first, second = "café!\n".encode()[:4], "café!\n".encode()[4:]
    assert LogTexts().decode([first, second]) == ["caf", "é!\n"]


def test_bytes_that_are_not_utf8_are_replaced_not_dropped() -> None:
    assert LogTexts().decode([b"a\xffb\n"]) == ["a\ufffdb\n"]


async def test_a_log_that_ends_mid_character_keeps_what_is_there() -> None:
    """The last entries' text: a character the log's end cut is replaced, not dropped."""

    async def log() -> AsyncIterator[list[bytes]]:
        yield [b"first\n", "last é".encode()[:-1]]

    assert await last_texts(log(), 2) == ["first\n", "last \ufffd"]
    assert await last_texts(log(), 1) == ["last \ufffd"]
