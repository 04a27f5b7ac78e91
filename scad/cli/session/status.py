from __future__ import annotations

import os
from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncclick as click

from ...sessions.credentials import discover_credentials, expiry_warning
from ...text import node_name
from .._app import Application, pass_app
from .._engine import STATES_UNKNOWN, with_engine_if_up
from .._json import Document, JsonCommand, JsonOutput, json_option
from .._render import Column, age, output_option, table
from .._watch import watch as follow
from .._watch import watch_option

if TYPE_CHECKING:
    from ...sessions.status import SessionStatus

#: What --json prints.
JSON = Document(("scad.cli._documents:SessionList",), items="sessions")


@click.command("status", cls=JsonCommand)
@click.option(
    "--all", "include_all", is_flag=True, help="Also stopped, exited and cleaned sessions."
)
@json_option(JSON)
@output_option
@watch_option
@pass_app
async def command(
    app: Application,
    include_all: bool,
    as_json: JsonOutput | None,
    output: str | None,
    watch: bool,
) -> None:
    """Sessions with their state, activity, turns, tokens and cost."""
    from ...sessions import session_status, shared_refresh_tokens

    home = app.home
    credentials = discover_credentials(os.environ)
    warned = False

    async def look() -> str:
        nonlocal warned
        rows = await with_engine_if_up(
            lambda engine: session_status(engine, home, include_all=include_all),
            app.open_socket_engine,
            lacking=STATES_UNKNOWN,
        )
        if not warned:  # once, not at every look of a watch
            _warn(expiry_warning(credentials, datetime.now(UTC)), shared_refresh_tokens(home, rows))
            warned = True
        if as_json:
            from .._documents import SessionList

            auth = credentials.method if credentials else None
            return as_json.text(SessionList(auth=auth, sessions=rows))
        screen = _screen(rows, include_all=include_all, wide=output == "wide", known=home.run_ids())
        return screen + (
            f"\nauth: {credentials.method if credentials else 'none found on this host'}"
        )

    if watch:
        await follow(look)
    else:
        click.echo(await look())


def _warn(expiry: str | None, shared: list[list[str]]) -> None:
    if expiry:
        click.echo(f"warning: {expiry}", err=True)
    for run_ids in shared:
        click.echo(
            f"warning: sessions {', '.join(run_ids)} share one OAuth refresh token; the first "
            "to refresh it logs the others out: for parallel runs use CLAUDE_CODE_OAUTH_TOKEN "
            "(from `claude setup-token`) or ANTHROPIC_API_KEY",
            err=True,
        )


def _screen(
    rows: list[SessionStatus],
    *,
    include_all: bool,
    wide: bool,
    width: int | None = None,
    known: Collection[str] = (),
) -> str:
    """The table; with a NODE column when a run is on a swarm (a host's own runs are
    shown as they always were)."""
    if not rows:
        return "no running sessions" + ("" if include_all else "; `--all` shows the others")
    on_nodes = any(r.summary.node for r in rows)
    return table(
        (*_COLUMNS, _NODE) if on_nodes else _COLUMNS,
        [
            (
                r.run_id,
                r.config,
                r.mode,
                r.state if r.exit_code is None else f"{r.state} ({r.exit_code})",
                age(r.created),
                r.branch,
                f"{age(r.summary.last_activity)} ago" if r.summary.last_activity else "-",
                r.summary.turns,
                r.summary.usage.total,
                f"{'~' if r.summary.cost_estimated else ''}${r.summary.cost_usd:.4f}",
                *((node_name(r.summary.node) if r.summary.node else "-",) if on_nodes else ()),
            )
            for r in rows
        ],
        wide=wide,
        width=width,
        known=known,
    )


#: At 80 columns: each run, where it stands, how lately busy, what it took; ``-o wide``
#: adds its config, mode, age, branch and tokens.
_COLUMNS = (
    Column("RUN ID", run_ids=True),
    Column("CONFIG", wide=True),
    Column("MODE", wide=True),
    Column("STATE"),
    Column("AGE", wide=True),
    Column("BRANCH", wide=True),
    Column("ACTIVE"),
    Column("TURNS"),
    Column("TOKENS", wide=True),
    Column("COST"),
)
#: Where each run's latest attempt is, last: free text, cut to fit (ids shortened
#: when even that is too wide).
_NODE = Column("NODE", cut=True)
