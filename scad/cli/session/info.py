from __future__ import annotations

from typing import TYPE_CHECKING

import asyncclick as click

from ...code.clones import MAX_COUNTED
from ...runs.records import find_run
from ...text import node_name
from .._app import Application, pass_app
from .._complete import run_ids
from .._engine import STATE_UNKNOWN, with_engine_if_up
from .._json import Document, JsonCommand, JsonOutput, json_option
from .._render import table

if TYPE_CHECKING:
    from ...runs.gatewaylog import GatewayUsage
    from ...sessions.info import CloneInfo, TranscriptInfo


#: What --json prints.
JSON = Document(("scad.sessions.info:SessionInfo",))


@click.command("info", cls=JsonCommand)
@click.argument("run_id", shell_complete=run_ids)
@json_option(JSON)
@pass_app
async def command(app: Application, run_id: str, as_json: JsonOutput | None) -> None:
    """One session's dashboard: container, branches, tokens, cost, history."""
    from ...sessions import session_info

    home = app.home
    record = find_run(home, run_id)
    info = await with_engine_if_up(
        lambda engine: session_info(engine, home, record), app.open_engine, lacking=STATE_UNKNOWN
    )
    if as_json:
        as_json.echo(info)
        return
    r, s = info.record, info.summary
    state = info.state if info.exit_code is None else f"{info.state} (exit {info.exit_code})"
    click.echo(f"run        {r.run_id}   ({r.mode}, {state})")
    click.echo(f"config     {r.config}   image {r.image}")
    node = f"   node {node_name(s.node)}" if s.node else ""
    click.echo(
        f"container  {info.container.id[:12] if info.container else '-'}{node}"
        f"   auth {r.auth or '-'}"
    )
    click.echo(f"created    {r.created}")
    if r.prompt:
        click.echo(f"prompt     {r.prompt.splitlines()[0][:100]}")
    click.echo(f"turns      {s.turns}   tool calls {s.tool_calls}   API retries {s.api_retries}")
    click.echo(
        f"tokens     in {s.usage.input_tokens}  out {s.usage.output_tokens}  "
        f"cache read {s.usage.cache_read_tokens}  cache write {s.usage.cache_creation_tokens}"
    )
    estimated = " (estimated from tokens)" if s.cost_estimated else ""
    click.echo(f"cost       ${s.cost_usd:.4f}{estimated}   duration {s.duration_ms / 1000:.1f} s")
    if info.gateway is not None:
        click.echo(f"gateway    {_measured(info.gateway, info.max_usd)}")
    if s.transcripts_unread:
        click.echo(f"counted    not all transcripts: {s.transcripts_unread}")
    if info.clones:
        click.echo("")
        click.echo(
            table(
                ("CLONE", "BRANCH", "AHEAD OF HOST", "PATH"),
                [(c.key, c.branch, _ahead(c), c.path) for c in info.clones],
            )
        )
        for clone in info.clones:
            if clone.problem:
                click.echo(f"  {clone.key}: unreadable: {clone.problem}")
            if clone.work is None:
                continue
            for commit in clone.work.commits[:10]:
                click.echo(f"  {clone.key}: {commit.sha[:8]} {commit.subject}")
            if clone.work.total > 10:
                click.echo(f"  {clone.key}: ... and {clone.work.total - 10} more")
            if clone.work.branches:
                click.echo(f"  {clone.key}: on {', '.join(clone.work.branches)}")
    if s.sessions:
        click.echo("")
        click.echo(
            table(
                ("CLAUDE SESSION", "STARTED", "TURNS", "COST", "OUTCOME"),
                [
                    (c.session_id, c.started, c.turns, f"${c.cost_usd:.4f}", c.outcome)
                    for c in s.sessions
                ],
            )
        )
    elif info.transcripts:
        click.echo("")
        click.echo(
            table(
                ("CLAUDE SESSION", "STARTED", "ENTRIES"),
                [(t.session_id, t.started or "-", _entries(t)) for t in info.transcripts],
            )
        )
    if s.sessions:  # the table above lists no transcripts: say which could not be read
        for transcript in info.transcripts:
            if transcript.problem:
                click.echo(f"transcript {transcript.session_id}: {_entries(transcript)}")


def _measured(usage: GatewayUsage, max_usd: float | None) -> str:
    """What the gateway measured, on one line beside Claude's own figures."""
    line = (
        f"{usage.requests} requests  in {usage.input_tokens}  out {usage.output_tokens}  "
        f"cache read {usage.cache_read_tokens}  cache write {usage.cache_creation_tokens}  "
        f"${usage.cost_usd:.4f}"
    )
    if max_usd is not None:
        line += f" of ${max_usd:.2f}"
    if usage.rate_limited:
        line += f"   rate limited {usage.rate_limited}"
    if usage.budget_refusals:
        line += f"   refused for budget {usage.budget_refusals}"
    return line


def _ahead(clone: CloneInfo) -> str:
    if clone.work is None:
        return "unknown"
    if clone.work.total > MAX_COUNTED:
        return f"> {MAX_COUNTED}"
    return str(clone.work.total)


def _entries(transcript: TranscriptInfo) -> str:
    if transcript.entries is None:
        return f"not read: {transcript.problem}"
    return str(transcript.entries)
