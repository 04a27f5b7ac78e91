"""``/``: every config's runs, and every batch, live."""

from __future__ import annotations

import anyio
from aiohttp import web

from ..batch.store import list_batches
from ..batch.view import BatchView
from ..sessions import SessionStatus, session_status
from ..text import printable
from ._figures import checks, cost, duration
from ._html import Cell, Html, Link, cells_json, esc, page, table
from ._sources import served, with_engine_if_up

__all__ = ["routes"]

RUNS = ("RUN", "CONFIG", "MODE", "STATE", "OUTCOME", "CHECKS", "NODE", "TURNS", "TOKENS",
        "COST", "DURATION", "CREATED", "BRANCH")  # fmt: skip
BATCHES = ("BATCH", "CONFIG", "SUPERVISOR", "PROMPTS", "OUTCOMES", "LIMIT", "COST", "BUDGET")


def run_cells(status: SessionStatus) -> list[Cell]:
    summary = status.summary
    state = status.state if status.exit_code is None else f"{status.state} ({status.exit_code})"
    return [
        Link(status.run_id, f"/run/{status.run_id}"),
        status.config,
        status.mode,
        state,
        status.outcome or "-",
        checks(summary.checks),
        summary.node or "-",
        summary.turns,
        summary.usage.total,
        cost(summary.cost_usd, summary.cost_estimated),
        duration(summary.duration_ms),
        status.created,
        status.branch,
    ]


def batch_cells(view: BatchView) -> list[Cell]:
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted(view.totals.outcomes.items()))
    limit = f"{view.limit}/{view.parallel}" if view.limit is not None else str(view.parallel)
    budget = "-" if view.budget_usd is None else cost(view.budget_usd)
    return [
        Link(view.batch_id, f"/batch/{view.batch_id}"),
        view.config,
        view.supervisor,
        view.totals.prompts,
        outcomes,
        limit,
        cost(view.totals.cost_usd),
        budget + (" (spent)" if view.budget_spent else ""),
    ]


async def _look(request: web.Request) -> tuple[list[list[Cell]], list[list[Cell]], str | None]:
    """The runs' and batches' rows, and why states are unknown when they are."""
    state = served(request)
    home = state.sources.home
    runs, lacking = await with_engine_if_up(
        state.sources.open_socket_engine,
        lambda engine: session_status(engine, home, include_all=True),
    )
    batch_ids = await anyio.to_thread.run_sync(list_batches, home)
    views = [await state.watcher(batch_id).look() for batch_id in batch_ids]
    note = f"{lacking}; states are unknown and totals are as last read" if lacking else ""
    return [run_cells(r) for r in runs], [batch_cells(v) for v in views], note


async def index(request: web.Request) -> web.Response:
    runs, batches, note = await _look(request)
    body = Html(
        f'<p id="note" class="note">{esc(note)}</p>'
        "<h2>Batches</h2>"
        + table(BATCHES, batches, id="batches", live="/index.json")
        + "<h2>Runs</h2>"
        + table(RUNS, runs, id="runs", live="/index.json")
    )
    return web.Response(
        text=page("runs and batches", body, csrf=served(request).secrets.csrf),
        content_type="text/html",
    )


async def index_json(request: web.Request) -> web.Response:
    runs, batches, note = await _look(request)
    return web.json_response(
        {
            "tables": {"runs": cells_json(runs), "batches": cells_json(batches)},
            "text": {"note": printable(note or "")},
        }
    )


def routes() -> list[web.RouteDef]:
    return [web.get("/", index), web.get("/index.json", index_json)]
