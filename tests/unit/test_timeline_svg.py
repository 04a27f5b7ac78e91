"""The timeline drawn: inert whatever an agent wrote, as wide as asked, fast enough."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest

from scad.reports.timeline import Bar, Lane, Segment, SpendPoint, Step, Timeline, timeline_svg

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)> \u202egpj.exe'


def timeline(lanes: int = 2, *, detail: str = "exit 1", tag: str = "one") -> Timeline:
    return Timeline(
        batch_id="p-b-Mar02-1400", config="p", duration=100.0, parallel=4, budget_usd=1.0,
        lanes=[
            Lane(item=n, tag=f"{tag}-{n}", status="retrying", waits=[
                Segment(kind="wait", start=0.0, end=2.0),
                Segment(kind="backoff", start=20.0, end=30.0),
            ], bars=[
                Bar(attempt=1, start=2.0, end=20.0, started=3.0, exited=19.0, status="crashed",
                    detail=detail),
                Bar(attempt=2, start=30.0, started=31.0, status="running"),
            ])
            for n in range(1, lanes + 1)
        ],
        steps=[Step(t=0.0, limit=4, cause="ceiling", label="4 at once"),
               Step(t=40.0, limit=2, cause="rate-limited", status=429, label=f"API 429 {tag}")],
        spend=[SpendPoint(t=0.0, usd=0.0), SpendPoint(t=20.0, usd=0.4)],
    )  # fmt: skip


@pytest.mark.parametrize("width", [720, 1280])
def test_the_drawing_is_as_wide_as_asked_and_well_formed(width: int) -> None:
    svg = timeline_svg(timeline(), width=width)
    root = ElementTree.fromstring(svg)
    assert root.get("viewBox", "").split()[2] == str(width)
    assert root.get("width") == str(width)


@pytest.mark.parametrize(
    "hostile",
    [pytest.param({"detail": HOSTILE}, id="detail"), pytest.param({"tag": HOSTILE}, id="tag")],
)
def test_what_an_agent_wrote_is_text_never_markup(hostile: dict[str, str]) -> None:
    svg = timeline_svg(timeline(**hostile), width=720)
    root = ElementTree.fromstring(svg)  # still one well-formed drawing
    names = {element.tag.rpartition("}")[2] for element in root.iter()}
    assert names <= {"svg", "g", "title", "text", "rect", "line", "polyline", "circle"}
    assert "<script" not in svg and "<img" not in svg
    attributes = {name for element in root.iter() for name in element.attrib}
    assert not {a for a in attributes if a.startswith("on") or "href" in a or a == "style"}
    assert not re.search(r"<[^>]*\son\w+\s*=", svg)  # no handler in any tag, parsed or not
    assert "\u202e" not in svg  # a bidi override is shown as an escape
    assert "&lt;script&gt;" in svg  # it is there, as text


def test_both_panels_and_the_legend_are_drawn() -> None:
    svg = timeline_svg(timeline(), width=1280)
    assert "API 429 one" in svg  # the labelled step
    assert "budget $1.00" in svg
    assert ">crashed<" in svg and ">backoff<" in svg and ">waiting for a slot<" in svg
    assert 'stroke-dasharray="2 2"' in svg  # the open end of the attempt still going


def test_two_hundred_lanes_draw_every_attempt() -> None:
    svg = timeline_svg(timeline(200), width=1280)
    assert svg.count("attempt 2: running") == 2 * 200  # the pale and the solid part


def test_each_attempt_is_one_group_marked_with_its_lane_attempt_and_outcome() -> None:
    """What a reader of the drawing (a test, a tool) counts: one marked group per
    attempt, naming its lane, its number and how it ended; nothing in it is live."""
    drawn = timeline(3)
    drawn.lanes[1].bars = drawn.lanes[1].bars[:1]
    root = ElementTree.fromstring(timeline_svg(drawn, width=1280))
    groups = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "attempt"]
    marked = [(g.get("data-item"), g.get("data-attempt"), g.get("data-status")) for g in groups]
    assert marked == [
        ("1", "1", "crashed"), ("1", "2", "running"),
        ("2", "1", "crashed"),
        ("3", "1", "crashed"), ("3", "2", "running"),
    ]  # fmt: skip
    assert all(len(g) >= 1 and g[0].tag.endswith("rect") for g in groups)


@pytest.mark.parametrize("days", [2, 40, 400])
def test_a_timeline_of_days_labels_its_axis_as_sparsely_as_one_of_hours(days: int) -> None:
    """A batch looked at long after it was made (its supervisor died and nobody took
    it up) spans days: its axis still has no more labels than fit side by side."""
    drawn = timeline()
    drawn.duration = days * 86400.0
    svg = timeline_svg(drawn, width=800)
    labels = re.findall(r'<text x="[\d.]+" y="16" text-anchor="middle">([^<]*)</text>', svg)
    assert 2 <= len(labels) <= 800 // 70
