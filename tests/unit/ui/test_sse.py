"""A run's live log: the page renders the end of the log and says where it stopped;
the stream goes on from there, each line once, and resumes where a browser left it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
import msgspec
import pytest
from aiohttp import web

from scad.home import Home
from scad.runs.records import RunPaths
from scad.ui import Serving
from scad.ui._log import LogChunk, log_tail
from scad.ui._sse import event_bytes, start_offset
from tests.unit.test_summaries import Log
from tests.unit.ui.conftest import RUN, log_in, said

pytestmark = pytest.mark.anyio


class Events:
    """An open event stream, read an event at a time."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self) -> tuple[str, list[str]]:
        """The next event with data: its id and its lines."""
        fields: dict[str, str] = {}
        with anyio.fail_after(10):
            while True:
                line = (await self.response.content.readline()).decode().rstrip("\n")
                if line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                elif "data" in fields:
                    return fields["id"], msgspec.json.decode(fields["data"])
                else:
                    fields = {}

    async def lines(self, count: int) -> list[str]:
        """The next ``count`` lines, however many events bring them (and no more)."""
        seen: list[str] = []
        while len(seen) < count:
            seen += texts((await self.next())[1])
        assert len(seen) == count
        return seen


@asynccontextmanager
async def events(
    http: aiohttp.ClientSession, serving: Serving, query: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Events]:
    url = f"{serving.bound.origin}/run/{RUN}/events{query}"
    async with http.get(url, headers=headers) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        yield Events(response)


def texts(lines: list[str]) -> list[str]:
    return [line[9:] for line in lines]  # after the HH:MM:SS


async def rendered_offset(http: aiohttp.ClientSession, serving: Serving) -> int:
    await log_in(http, serving)
    async with http.get(f"{serving.bound.origin}/run/{RUN}") as response:
        found = re.search(r'data-offset="(\d+)"', await response.text())
    assert found is not None
    return int(found[1])


async def test_the_stream_goes_on_from_where_the_page_stopped_each_line_once(
    serving: Serving, http: aiohttp.ClientSession, home: Home
) -> None:
    paths = RunPaths(home, RUN)
    offset = await rendered_offset(http, serving)
    assert offset == paths.events.stat().st_size
    log = Log(paths)
    log.seq = 100
    log.claude(said("after the page loaded", "m2"))
    async with events(http, serving, f"?offset={offset}") as stream:
        first, lines = await stream.next()
        assert texts(lines) == ["after the page loaded"]
        assert int(first) == paths.events.stat().st_size
        log.claude(said("and then", "m3"))
        assert texts((await stream.next())[1]) == ["and then"]
    log.claude(said("while away", "m4"))
    # A browser reconnecting sends the last id it saw, whatever the address says.
    async with events(http, serving, "?offset=0", {"Last-Event-ID": first}) as stream:
        assert await stream.lines(2) == ["and then", "while away"]


async def test_the_page_shows_the_end_of_a_long_log_whole_lines_and_links_to_more(
    serving: Serving, http: aiohttp.ClientSession, home: Home
) -> None:
    paths = RunPaths(home, RUN)
    log = Log(paths)
    log.seq = 100
    for n in range(200):
        log.claude(said(f"line {n} " + "x" * 40, f"n{n}"))
    await log_in(http, serving)
    async with http.get(f"{serving.bound.origin}/run/{RUN}?kib=4") as response:
        text = await response.text()
    shown = re.findall(r"line (\d+) x", text)
    assert shown[-1] == "199" and 10 < len(shown) < 100  # the end, about 4 KiB of it
    assert shown == [str(n) for n in range(int(shown[0]), 200)]
    assert f'<a href="/run/{RUN}?kib=16">show more</a>' in text


async def test_a_tail_reads_about_its_limit_whatever_the_log_size(home: Home) -> None:
    paths = RunPaths(home, RUN)
    log = Log(paths)
    for n in range(20_000):
        log.claude(said(f"line {n}", f"n{n}"))
    size = paths.events.stat().st_size
    tail = await log_tail(paths, 2048)
    assert tail.end == size and size - 2048 <= tail.start < size - 1024
    assert texts(tail.lines)[-1] == "line 19999" and len(tail.lines) < 20


def test_an_event_is_one_data_line_whatever_the_lines_hold() -> None:
    event = event_bytes(LogChunk(["a\nb", "c\r\nd", "id: 9"], 42))
    assert event == b'id: 42\ndata: ["a\\nb","c\\r\\nd","id: 9"]\n\n'


@pytest.mark.parametrize("given", ["²", "١٢", "-1", "+1", " 1", "1e3", "9" * 5000, "9" * 40])
def test_an_offset_not_a_plain_count_of_bytes_is_a_bad_request(given: str) -> None:
    with pytest.raises(web.HTTPBadRequest):
        start_offset(given, None)
    with pytest.raises(web.HTTPBadRequest):
        start_offset(None, given)


@pytest.mark.parametrize("given", ["²", "١٢", "-1", "9" * 5000, "9" * 40])
async def test_a_page_asked_for_an_odd_length_of_log_shows_its_usual_tail(
    serving: Serving, http: aiohttp.ClientSession, given: str
) -> None:
    await log_in(http, serving)
    async with http.get(f"{serving.bound.origin}/run/{RUN}", params={"kib": given}) as response:
        assert response.status == 200
