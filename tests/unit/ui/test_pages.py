"""What the pages show, and that nothing an agent wrote is ever markup in them."""

from __future__ import annotations

import html
import re

import aiohttp
import pytest

from scad.batch.events import LimitMoved
from scad.batch.store import BatchPaths, append_batch_event
from scad.home import Home
from scad.text import printable
from scad.ui import Serving
from scad.ui._figures import checks
from scad.ui._html import esc_block, shown
from tests.fakes import batch_event
from tests.unit.ui.conftest import BATCH, BRANCH, RUN, SAID, SUBJECT, log_in

#: What an agent may write to be read as what it is not.
SPOOF = "evil‮gpj.exe [2J"

pytestmark = pytest.mark.anyio


async def page(http: aiohttp.ClientSession, serving: Serving, path: str) -> str:
    await log_in(http, serving)
    async with http.get(serving.bound.origin + path) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        return await response.text()


def assert_inert(text: str) -> None:
    """The page's only script is its own file, and no element carries a handler or a
    style of its own: whatever an agent wrote is text."""
    assert re.findall(r"<script[^>]*>", text) == ['<script src="/static/ui.js" defer>']
    assert not re.search(r"<[^>]*\son\w+\s*=", text)
    assert not re.search(r"<[^>]*\sstyle\s*=", text)
    images = re.findall(r"<img[^>]*>", text)
    assert all(re.fullmatch(r'<img id="timeline-image" [^<>]*>', image) for image in images)
    assert len(images) <= 1 and "<b>" not in text


async def test_the_index_lists_every_run_and_batch_with_hostile_text_escaped(
    serving: Serving, http: aiohttp.ClientSession
) -> None:
    text = await page(http, serving, "/")
    assert_inert(text)
    assert f'<a href="/run/{RUN}">{RUN}</a>' in text
    assert f'<a href="/batch/{BATCH}">{BATCH}</a>' in text
    assert html.escape(BRANCH, quote=True) in text
    async with http.get(f"{serving.bound.origin}/index.json") as response:
        view = await response.json()
    (run,) = view["tables"]["runs"]
    assert run[0] == {"text": RUN, "href": f"/run/{RUN}"}
    assert BRANCH in run  # as text: the page's script sets it with textContent
    (batch,) = view["tables"]["batches"]
    assert batch[2:5] == ["dead", "2", "1 failed, 1 queued"]


async def test_a_batch_page_shows_its_items_live_and_has_room_for_its_timeline(
    serving: Serving, http: aiohttp.ClientSession
) -> None:
    text = await page(http, serving, f"/batch/{BATCH}")
    assert_inert(text)
    assert f'data-src="/batch/{BATCH}/timeline.svg"' in text
    assert f'data-live="/batch/{BATCH}/view.json"' in text
    assert html.escape(SAID, quote=True) in text  # the attempt's detail quotes the agent
    async with http.get(f"{serving.bound.origin}/batch/{BATCH}/view.json") as response:
        view = await response.json()
    first, second = view["tables"]["items"]
    assert first[:4] == ["1", "b-01", {"text": RUN, "href": f"/run/{RUN}"}, "failed"]
    assert first[-1] == SAID
    assert second[:4] == ["2", "b-02", "-", "queued"]
    assert view["text"]["batch-summary"].startswith("config p; supervisor dead;")


@pytest.mark.parametrize("width", ["", "?width=900", "?width=99999", "?width=wide"])
async def test_a_batch_timeline_is_an_inert_image_drawn_at_the_width_asked_within_bounds(
    serving: Serving, http: aiohttp.ClientSession, width: str
) -> None:
    await log_in(http, serving)
    async with http.get(f"{serving.bound.origin}/batch/{BATCH}/timeline.svg{width}") as response:
        assert response.status == 200
        assert response.content_type == "image/svg+xml"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        svg = await response.text()
    asked = {"": 1200, "?width=900": 900, "?width=99999": 2400, "?width=wide": 1200}[width]
    assert f'viewBox="0 0 {asked} ' in svg
    assert "<script" not in svg and not re.search(r"<[^>]*\son\w+\s*=", svg)
    assert "<img" not in svg and html.escape(SAID, quote=True) in svg  # the detail is text


async def test_a_run_page_shows_its_log_commits_and_sessions_with_hostile_text_escaped(
    serving: Serving, http: aiohttp.ClientSession
) -> None:
    text = await page(http, serving, f"/run/{RUN}")
    assert_inert(text)
    assert html.escape(BRANCH, quote=True) in text
    assert re.search(r"\d\d:\d\d:\d\d " + re.escape(html.escape(SAID, quote=True)), text)
    assert html.escape(SUBJECT, quote=True) in text
    assert "&quot;hi&quot; &amp; &#x27;bye&#x27;" in text
    assert "<td>s1</td>" in text  # its Claude session
    assert "<td>tests</td><td>failed (exit 1)</td>" in text
    assert f"<pre>1 failed: {html.escape(SAID, quote=True)}</pre>" in text
    assert f'data-events="/run/{RUN}/events"' in text


@pytest.mark.parametrize(
    "path", ["/run/nope", "/batch/nope", "/batch/nope/view.json", "/run/nope/events"]
)
async def test_an_unknown_run_or_batch_is_not_found(
    serving: Serving, http: aiohttp.ClientSession, path: str
) -> None:
    await log_in(http, serving)
    async with http.get(serving.bound.origin + path) as response:
        assert response.status == 404


@pytest.mark.parametrize(
    ("verdicts", "shown"),
    [
        ({}, "-"),
        ({"tests": "passed", "lint": "passed"}, "2 passed"),
        (
            {"tests": "failed", "lint": "passed", "slow": "timed-out"},
            "slow timed-out, tests failed",
        ),
    ],
)
def test_checks_are_shown_by_what_did_not_pass(verdicts: dict[str, str], shown: str) -> None:
    assert checks(verdicts) == shown


async def test_a_batch_page_shows_its_notes_one_a_line(
    serving: Serving, http: aiohttp.ClientSession, home: Home
) -> None:
    """The notes are lines, as the live view sends them: never a ``\\x0a`` between."""
    for limit in (3, 2):
        append_batch_event(
            BatchPaths(home, BATCH),
            LimitMoved(limit=limit, cause="rate-limited", detail=f"down to {limit}"),
        )
    text = await page(http, serving, f"/batch/{BATCH}")
    notes = re.search(r'<pre id="batch-notes" class="notes">([^<]*)</pre>', text)
    assert notes is not None and "\\x0a" not in notes[1]
    assert len(notes[1].splitlines()) >= 2


async def test_the_live_tables_show_an_agents_invisible_characters_as_the_page_does(
    serving: Serving, http: aiohttp.ClientSession, home: Home
) -> None:
    """A bidi override or an escape sequence in what the agent wrote reaches the page's
    script as the escape the first render shows, not as itself: the rows the script
    puts in the page a second later read as the ones they replace."""
    paths = BatchPaths(home, BATCH)
    append_batch_event(
        paths,
        batch_event("attempt", item=1, run_id=RUN, attempt=2, status="failed", final=True,
                    detail=SPOOF),
    )  # fmt: skip
    await log_in(http, serving)
    async with http.get(f"{serving.bound.origin}/batch/{BATCH}/view.json") as response:
        view = await response.json()
    first = view["tables"]["items"][0]
    assert first[-1] == printable(SPOOF) and "\u202e" not in first[-1]


def test_lines_the_script_shows_read_as_the_page_rendered_them() -> None:
    text = f"first\t{SPOOF}\nsecond <b>"
    assert html.escape(shown(text), quote=True) == esc_block(text)
    assert shown(text).split("\n")[1] == "second <b>"
