"""``/run/ID``: one run: its figures, its live log, its checks, its commits and diff
(from scad's store, as ``scad review RUN`` reads them) and its Claude sessions (as
``scad session info`` lists them)."""

from __future__ import annotations

import anyio
from aiohttp import web

from ..review import RunReview, review_run
from ..runs.records import RunPaths, find_run
from ..sessions import SessionInfo, session_info
from ._figures import checks, cost, duration
from ._html import Cell, Html, Link, button, esc, esc_block, page, table
from ._log import LogTail, log_tail
from ._params import count
from ._sources import served, with_engine_if_up

__all__ = ["routes"]

#: The log a page shows at first, in KiB, and the most a page asks for.
TAIL_KIB = 256
MAX_TAIL_KIB = 64 << 10


def _tail_kib(request: web.Request) -> int:
    kib = count(request.query.get("kib"))
    return TAIL_KIB if kib is None else max(1, min(kib, MAX_TAIL_KIB))


def _facts(info: SessionInfo, review: RunReview, lacking: str | None) -> Html:
    record, summary = info.record, info.summary
    (row,) = review.rows
    state = info.state if info.exit_code is None else f"{info.state} ({info.exit_code})"
    facts: list[tuple[str, Cell]] = [
        ("config", record.config),
        ("mode", record.mode),
        ("state", state + (f" ({lacking})" if lacking else "")),
        ("outcome", row.outcome or "-"),
        ("batch", Link(record.batch_id, f"/batch/{record.batch_id}") if record.batch_id else "-"),
        ("checks", checks(summary.checks)),
        ("node", summary.node or "-"),
        ("branch", record.branch),
        ("created", record.created),
        ("turns", summary.turns),
        ("tokens", summary.usage.total),
        ("cost", cost(row.cost_usd, row.cost_estimated)),
        ("duration", duration(summary.duration_ms)),
        ("last tool", summary.last_tool or "-"),
    ]
    return table(("", ""), [list(fact) for fact in facts], id="facts")


def _log(run_id: str, tail: LogTail, kib: int) -> Html:
    more = ""
    if tail.start > 0:
        more = (
            f'<p class="note">the log before the last {kib} KiB is left out: '
            f'<a href="/run/{esc(run_id)}?kib={min(kib * 4, MAX_TAIL_KIB)}">show more</a></p>'
        )
    lines = "".join(f"{esc(line)}\n" for line in tail.lines)
    return Html(
        f"<h2>Log</h2>{more}"
        f'<pre id="log" data-events="/run/{esc(run_id)}/events" data-offset="{tail.end}">'
        f"{lines}</pre>"
    )


def _checks(review: RunReview) -> Html:
    if not review.checked:
        return Html("<h2>Checks</h2><p>none ran</p>")
    rows: list[list[Cell]] = []
    outputs = []
    for check in review.checked:
        verdict: str
        if check.stop:
            verdict = check.stop
        elif check.exit_code is None:
            verdict = "could not run"
        else:
            verdict = "passed" if check.passed else f"failed (exit {check.exit_code})"
        rows.append([check.name, verdict, duration(check.duration_ms), ", ".join(check.pinned)])
        if not check.passed and check.output:
            outputs.append(
                f"<h3>{esc(check.name)}: its last output</h3><pre>{esc_block(check.output)}</pre>"
            )
    checks = table(("CHECK", "VERDICT", "DURATION", "PINNED PATHS CHANGED"), rows, id="checks")
    return Html("<h2>Checks</h2>" + checks + "".join(outputs))


def _changes(review: RunReview) -> Html:
    parts = ["<h2>Commits and diff</h2>"]
    last = review.last_message
    parts.append(
        f'<h3>What the agent said last</h3><pre class="said">{esc_block(last or "-")}</pre>'
    )
    for repo in review.repos:
        problem = f": {repo.problem}" if repo.problem else ""
        parts.append(f"<h3>repo {esc(repo.key)}{esc(problem)}</h3>")
        commits: list[list[Cell]] = [[c.sha[:12], c.subject] for c in repo.commits]
        if repo.ahead > len(repo.commits):
            commits.append(["...", f"{repo.ahead - len(repo.commits)} more"])
        parts.append(table(("COMMIT", "SUBJECT"), commits, id=f"commits-{repo.key}"))
        if repo.diff:
            parts.append(f'<pre class="diff">{esc_block(repo.diff)}</pre>')
        if repo.diff_cut:
            parts.append('<p class="note">the diff goes on: longer than scad shows</p>')
    return Html("".join(parts))


def _sessions(info: SessionInfo) -> Html:
    sessions = table(
        ("SESSION", "STARTED", "MODEL", "TURNS", "COST", "OUTCOME"),
        [
            [c.session_id, c.started, c.model or "-", c.turns, cost(c.cost_usd), c.outcome]
            for c in info.summary.sessions
        ],
        id="sessions",
    )
    transcripts = table(
        ("TRANSCRIPT", "STARTED", "ENTRIES"),
        [
            [t.session_id, t.started or "-", t.problem or ("-" if t.entries is None else t.entries)]
            for t in info.transcripts
        ],
        id="transcripts",
    )
    return Html("<h2>Claude sessions</h2>" + sessions + transcripts)


async def run_page(request: web.Request) -> web.Response:
    state = served(request)
    home = state.sources.home
    record = await anyio.to_thread.run_sync(find_run, home, request.match_info["run_id"])
    kib = _tail_kib(request)
    # The log first: the page carries where it ends, and the stream goes on from there.
    tail = await log_tail(RunPaths(home, record.run_id), kib << 10)
    info, lacking = await with_engine_if_up(
        state.sources.open_engine, lambda engine: session_info(engine, home, record)
    )
    review = await review_run(home, record.run_id)
    actions = button(
        "Stop the run", f"/run/{record.run_id}/stop", f"Stop run {record.run_id}?"
    ) + button(
        "Fetch its branches",
        f"/run/{record.run_id}/fetch",
        f"Bring the branches of {record.run_id} into the host repos?",
    )
    body = Html(
        _facts(info, review, lacking)
        + f'<p class="actions">{actions}</p>'
        + _log(record.run_id, tail, kib)
        + _checks(review)
        + _changes(review)
        + _sessions(info)
    )
    return web.Response(
        text=page(f"run {record.run_id}", body, csrf=state.secrets.csrf), content_type="text/html"
    )


def routes() -> list[web.RouteDef]:
    return [web.get("/run/{run_id}", run_page)]
