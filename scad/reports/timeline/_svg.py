"""A timeline drawn as inline SVG. Pure.

No script, no style attribute, no reference outside the drawing: colours are
presentation attributes (``fill=``), which a page's Content-Security-Policy leaves
alone, and every text is escaped (what a run's detail or tag says is an agent's to
write). Lanes first, on a shared time axis; then the concurrency limit as a step
line with each move labelled; then the spend against the budget; then a legend.
"""

from __future__ import annotations

from html import escape

from ...runs.states import ItemStatus
from ...text import printable
from ._model import Bar, Lane, Timeline

__all__ = ["COLOURS", "timeline_svg"]

#: The colour of an attempt, by how it ended (``running``: still going).
COLOURS: dict[ItemStatus, str] = {
    "succeeded": "#2e7d32",
    "checks-failed": "#ef6c00",
    "failed": "#c62828",
    "crashed": "#6a1b9a",
    "oom": "#4e342e",
    "hung": "#8d6e63",
    "timed-out": "#ad1457",
    "rate-limited": "#f9a825",
    "budget": "#1565c0",
    "cancelled": "#9e9e9e",
    "unknown": "#607d8b",
    "running": "#42a5f5",
    "retrying": "#42a5f5",
    "queued": "#bdbdbd",
}
_WAIT = "#e0e0e0"
_BACKOFF = "#ffe082"
_LIMIT = "#37474f"
_SPEND = "#00897b"
_BUDGET = "#c62828"
_GRID = "#eeeeee"
_FONT = 'font-family="sans-serif"'
#: Characters of a run's detail kept in its bar's tooltip.
_DETAIL_CHARS = 300
#: Heights: the time axis, each panel below the lanes, the legend.
_AXIS = 24
_PANEL = 96
_LEGEND = 28
#: Time-axis steps, in seconds, the axis chooses among.
_TICKS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)


def _text(value: str, limit: int | None = None) -> str:
    """Text for the drawing: control and bidi characters shown as escapes, cut to
    ``limit`` characters, then XML-escaped (quotes too: it may sit in an attribute)."""
    shown = printable(value)
    if limit is not None and len(shown) > limit:
        shown = shown[: max(1, limit - 1)] + "…"
    return escape(shown, quote=True)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


class _Frame:
    """Where times and lanes land on the drawing."""

    def __init__(self, timeline: Timeline, width: int) -> None:
        self.width = width
        self.span = max(timeline.duration, 1.0)
        self.left = min(200, max(60, width // 6))
        self.right = width - 16
        self.lane = 22 if len(timeline.lanes) <= 30 else 14
        self.lanes_top = _AXIS

    def x(self, t: float) -> float:
        share = min(max(t / self.span, 0.0), 1.0)
        return self.left + share * (self.right - self.left)

    def lane_y(self, index: int) -> int:
        return self.lanes_top + index * self.lane


def timeline_svg(timeline: Timeline, *, width: int) -> str:
    """The timeline as one ``<svg>`` element ``width`` pixels wide."""
    frame = _Frame(timeline, width)
    lanes_bottom = frame.lane_y(len(timeline.lanes))
    limit_top = lanes_bottom + 12
    spend_top = limit_top + _PANEL
    legend_top = spend_top + _PANEL
    height = legend_top + _LEGEND
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" {_FONT} font-size="11" role="img">',
        f"<title>{_text(f'batch {timeline.batch_id}')}</title>",
    ]
    parts += _axis(frame, lanes_bottom)
    for index, lane in enumerate(timeline.lanes):
        parts += _lane(frame, lane, index, timeline.duration)
    parts += _marks(frame, timeline, lanes_bottom)
    parts += _limits(frame, timeline, limit_top)
    parts += _spend(frame, timeline, spend_top)
    parts += _legend(frame, timeline, legend_top)
    parts.append("</svg>")
    return "\n".join(parts)


def _axis(frame: _Frame, bottom: int) -> list[str]:
    fits = max(2, (frame.right - frame.left) // 70)
    day = _TICKS[-1]
    # Longer than the widest step covers (a batch looked at days later): whole days.
    step = next((s for s in _TICKS if frame.span / s <= fits), day * -(-frame.span // (day * fits)))
    parts = []
    tick = 0.0
    while tick <= frame.span:
        x = _num(frame.x(tick))
        label = f"{tick // day:.0f}d" if step >= day else _clock(tick)
        parts.append(f'<line x1="{x}" y1="{_AXIS - 4}" x2="{x}" y2="{bottom}" stroke="{_GRID}"/>')
        parts.append(f'<text x="{x}" y="{_AXIS - 8}" text-anchor="middle">{label}</text>')
        tick += step
    return parts


def _lane(frame: _Frame, lane: Lane, index: int, now: float) -> list[str]:
    y = frame.lane_y(index)
    bar_y, bar_h = y + 2, frame.lane - 4
    label_chars = max(4, (frame.left - 8) // 7)
    parts = [
        f'<text x="4" y="{y + frame.lane - 6}" font-size="{min(11, frame.lane - 3)}">'
        f"{_text(f'{lane.item} {lane.tag}', label_chars)}<title>{_text(lane.tag)}</title></text>"
    ]
    for segment in lane.waits:
        x1, x2 = frame.x(segment.start), frame.x(now if segment.end is None else segment.end)
        fill = _BACKOFF if segment.kind == "backoff" else _WAIT
        seconds = (now if segment.end is None else segment.end) - segment.start
        parts.append(
            f'<rect x="{_num(x1)}" y="{bar_y + bar_h // 4}" width="{_num(max(x2 - x1, 1))}" '
            f'height="{max(bar_h // 2, 2)}" fill="{fill}"><title>{segment.kind} '
            f"{_clock(seconds)}</title></rect>"
        )
    for bar in lane.bars:
        parts += _bar(frame, lane, bar, bar_y, bar_h, now)
    return parts


def _bar(frame: _Frame, lane: Lane, bar: Bar, y: int, h: int, now: float) -> list[str]:
    end = now if bar.end is None else bar.end
    x1, x2 = frame.x(bar.start), frame.x(end)
    fill = COLOURS.get(bar.status, COLOURS["unknown"])
    said = f"{lane.tag} attempt {bar.attempt}: {bar.status}, {_clock(end - bar.start)}"
    if bar.end is None:
        said += " so far"
    tip = _text(said) + (f" — {_text(bar.detail, _DETAIL_CHARS)}" if bar.detail else "")
    # One group per attempt, marked (inert data) for whoever counts them in the drawing.
    parts = [
        f'<g class="attempt" data-item="{lane.item}" data-attempt="{bar.attempt}" '
        f'data-status="{_text(bar.status)}">',
        f'<rect x="{_num(x1)}" y="{y}" width="{_num(max(x2 - x1, 2))}" height="{h}" '
        f'fill="{fill}" fill-opacity="0.45"><title>{tip}</title></rect>',
    ]
    if bar.started is not None:  # its container's life, solid; preparing and checks, pale
        stop = end if bar.exited is None else bar.exited
        s1, s2 = frame.x(bar.started), frame.x(stop)
        parts.append(
            f'<rect x="{_num(s1)}" y="{y}" width="{_num(max(s2 - s1, 1))}" height="{h}" '
            f'fill="{fill}"><title>{tip}</title></rect>'
        )
    if bar.end is None:  # still going: an open end
        parts.append(
            f'<line x1="{_num(x2)}" y1="{y - 1}" x2="{_num(x2)}" y2="{y + h + 1}" '
            f'stroke="{fill}" stroke-width="2" stroke-dasharray="2 2"/>'
        )
    parts.append("</g>")
    return parts


def _marks(frame: _Frame, timeline: Timeline, bottom: int) -> list[str]:
    parts = []
    for mark in timeline.marks:
        if mark.kind == "supervisor":
            continue
        x = _num(frame.x(mark.t))
        colour = _BUDGET if mark.kind == "budget" else _LIMIT
        parts.append(
            f'<line x1="{x}" y1="{_AXIS}" x2="{x}" y2="{bottom}" stroke="{colour}" '
            f'stroke-dasharray="4 3"><title>{_text(mark.label)} at {_clock(mark.t)}</title></line>'
        )
    return parts


def _panel(frame: _Frame, top: int, title: str) -> list[str]:
    return [
        f'<rect x="{frame.left}" y="{top}" width="{frame.right - frame.left}" '
        f'height="{_PANEL - 20}" fill="none" stroke="{_GRID}"/>',
        f'<text x="4" y="{top + 12}" font-weight="bold">{_text(title)}</text>',
    ]


def _limits(frame: _Frame, timeline: Timeline, top: int) -> list[str]:
    parts = _panel(frame, top, "runs at once")
    steps = timeline.steps
    if not steps:
        return parts
    high = max([timeline.parallel, *(s.limit for s in steps)])
    inner = _PANEL - 32
    base = top + _PANEL - 24

    def y(limit: int) -> float:
        return base - limit / high * inner

    points = []
    for step, after in zip(steps, [*steps[1:], None], strict=True):
        end = timeline.duration if after is None else after.t
        points += [f"{_num(frame.x(step.t))},{_num(y(step.limit))}"]
        points += [f"{_num(frame.x(end))},{_num(y(step.limit))}"]
    parts.append(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{_LIMIT}" stroke-width="2"/>'
    )
    parts.append(
        f'<text x="{frame.left - 4}" y="{_num(y(high) + 4)}" text-anchor="end">{high}</text>'
    )
    previous = None
    for number, step in enumerate(steps):
        if previous is not None and step.limit == previous and step.cause == "ceiling":
            continue  # a new supervisor taking the batch at the same limit: no move
        previous = step.limit
        x, ly = _num(frame.x(step.t)), _num(y(step.limit) - 4 - (number % 2) * 10)
        parts.append(f'<circle cx="{x}" cy="{_num(y(step.limit))}" r="3" fill="{_LIMIT}"/>')
        parts.append(
            f'<text x="{x}" y="{ly}" font-size="10">{_text(step.label, 40)}'
            f"<title>{_text(step.label)} at {_clock(step.t)}</title></text>"
        )
    return parts


def _spend(frame: _Frame, timeline: Timeline, top: int) -> list[str]:
    measure = "" if timeline.spend_measured else " (partly as Claude reported)"
    parts = _panel(frame, top, "spend" + measure)
    spent = timeline.spend[-1].usd if timeline.spend else 0.0
    high = max(spent, timeline.budget_usd or 0.0) or 1.0
    inner = _PANEL - 32
    base = top + _PANEL - 24

    def y(usd: float) -> float:
        return base - usd / high * inner

    points: list[str] = []
    for point in timeline.spend:
        if points:  # a step: what was spent holds until the next cost
            points.append(f"{_num(frame.x(point.t))},{points[-1].split(',')[1]}")
        points.append(f"{_num(frame.x(point.t))},{_num(y(point.usd))}")
    if points:
        points.append(f"{_num(frame.x(timeline.duration))},{points[-1].split(',')[1]}")
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{_SPEND}" '
            f'stroke-width="2"/>'
        )
    parts.append(
        f'<text x="{frame.left - 4}" y="{_num(y(spent) + 4)}" text-anchor="end">${spent:.2f}</text>'
    )
    if timeline.budget_usd is not None:
        by = _num(y(timeline.budget_usd))
        parts.append(
            f'<line x1="{frame.left}" y1="{by}" x2="{frame.right}" y2="{by}" stroke="{_BUDGET}" '
            f'stroke-dasharray="6 4"/>'
        )
        parts.append(
            f'<text x="{frame.right - 2}" y="{_num(y(timeline.budget_usd) - 4)}" '
            f'text-anchor="end" fill="{_BUDGET}">budget ${timeline.budget_usd:.2f}</text>'
        )
    return parts


def _legend(frame: _Frame, timeline: Timeline, top: int) -> list[str]:
    seen = {bar.status for lane in timeline.lanes for bar in lane.bars}
    keys: list[tuple[str, str]] = [(s, colour) for s, colour in COLOURS.items() if s in seen]
    keys += [("waiting for a slot", _WAIT), ("backoff", _BACKOFF)]
    parts, x, y = [], 4, top + 14
    for name, colour in keys:
        room = 18 + 7 * len(name)
        if x + room > frame.width:
            break  # a narrow drawing shows what fits
        parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{y}">{_text(name)}</text>')
        x += room + 8
    return parts
