"""``/batch/ID``: a batch's prompts as ``batch status`` shows them, live, with its
actions; its timeline has a place of its own on the page."""

from __future__ import annotations

import anyio
from aiohttp import web

from ..batch.store import find_batch_id
from ..batch.view import BatchRow, BatchView
from ..home import Home
from ..reports.timeline import read_timeline, timeline_svg
from ..text import printable
from ._figures import cost, duration
from ._html import Cell, Html, Link, button, cells_json, esc, esc_block, page, shown, table
from ._sources import served

__all__ = ["routes"]

#: The timeline's width in pixels: as the page asks, within these bounds.
DEFAULT_WIDTH, MIN_WIDTH, MAX_WIDTH = 1200, 480, 2400

ITEMS = ("#", "TAG", "RUN", "STATE", "ATTEMPTS", "CHECKS", "NODE", "TURNS", "TOKENS IN/OUT",
         "COST", "ELAPSED", "LAST TOOL", "DETAIL")  # fmt: skip


def item_cells(row: BatchRow) -> list[Cell]:
    attempts = f"{row.attempts}" + (f" ({row.fix_attempts} fixes)" if row.fix_attempts else "")
    return [
        row.item,
        row.tag,
        Link(row.run_id, f"/run/{row.run_id}") if row.run_id else "-",
        row.outcome,
        attempts,
        ("failed: " + ", ".join(row.failing_checks)) if row.failing_checks else "-",
        row.node or "-",
        row.turns,
        f"{row.input_tokens}/{row.output_tokens}",
        cost(row.cost_usd, row.cost_estimated),
        duration(row.duration_ms),
        row.last_tool or "",
        row.detail or "",
    ]


def summary_line(view: BatchView) -> str:
    """Who supervises it, how many may run, what it spent of its budget."""
    limit = f"{view.limit} of {view.parallel}" if view.limit is not None else str(view.parallel)
    budget = "" if view.budget_usd is None else f" of {cost(view.budget_usd)}"
    spent = " (budget spent)" if view.budget_spent else ""
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted(view.totals.outcomes.items()))
    return (
        f"config {view.config}; supervisor {view.supervisor}; at once {limit}; "
        f"{view.totals.prompts} prompts ({outcomes}); {cost(view.totals.cost_usd)}{budget}{spent}"
    )


async def _view(request: web.Request) -> BatchView:
    state = served(request)
    home: Home = state.sources.home
    batch_id = await anyio.to_thread.run_sync(find_batch_id, home, request.match_info["batch_id"])
    return await state.watcher(batch_id).look()


async def batch_page(request: web.Request) -> web.Response:
    view = await _view(request)
    live = f"/batch/{view.batch_id}/view.json"
    timeline = f"/batch/{view.batch_id}/timeline.svg"
    actions = button(
        "Stop the batch", f"/batch/{view.batch_id}/stop", f"Stop batch {view.batch_id}?"
    ) + button(
        "Retry failed prompts",
        f"/batch/{view.batch_id}/retry",
        f"Run the prompts of {view.batch_id} that did not succeed again?",
    )
    body = Html(
        f'<p id="batch-summary" class="summary">{esc(summary_line(view))}</p>'
        f'<p class="actions">{actions}</p>'
        + table(ITEMS, map(item_cells, view.rows), id="items", live=live)
        + f'<pre id="batch-notes" class="notes">{esc_block(chr(10).join(view.notes))}</pre>'
        + '<section id="timeline"><h2>timeline</h2>'
        + f'<img id="timeline-image" alt="the batch\'s timeline" src="{timeline}" '
        + f'data-src="{timeline}"></section>'
    )
    return web.Response(
        text=page(f"batch {view.batch_id}", body, csrf=served(request).secrets.csrf),
        content_type="text/html",
    )


async def batch_json(request: web.Request) -> web.Response:
    view = await _view(request)
    return web.json_response(
        {
            "tables": {"items": cells_json(map(item_cells, view.rows))},
            "text": {
                "batch-summary": printable(summary_line(view)),
                "batch-notes": shown("\n".join(view.notes)),
            },
        }
    )


async def batch_timeline(request: web.Request) -> web.Response:
    """The timeline as an SVG image: shown by an ``<img>``, it can run nothing and
    load nothing, whatever its labels hold."""
    home: Home = served(request).sources.home
    batch_id = await anyio.to_thread.run_sync(find_batch_id, home, request.match_info["batch_id"])
    try:
        width = int(request.query.get("width", DEFAULT_WIDTH))
    except ValueError:
        width = DEFAULT_WIDTH
    width = min(max(width, MIN_WIDTH), MAX_WIDTH)
    svg = timeline_svg(await read_timeline(home, batch_id), width=width)
    return web.Response(text=svg, content_type="image/svg+xml")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/batch/{batch_id}", batch_page),
        web.get("/batch/{batch_id}/view.json", batch_json),
        web.get("/batch/{batch_id}/timeline.svg", batch_timeline),
    ]
