"""`scad session ...`: start, watch and manage sessions."""

import asyncclick as click

from .._groups import Lazy, LazyGroup

COMMANDS = {
    "attach": Lazy(
        "scad.cli.session.attach:command",
        "Open the session's terminal (Claude in tmux; detach with Ctrl+b d, or inside tmux "
        "with the keys it shows).",
    ),
    "clean": Lazy(
        "scad.cli.session.clean:command",
        "Remove sessions' containers, clones and Claude state (their logs stay).",
    ),
    "info": Lazy(
        "scad.cli.session.info:command",
        "One session's dashboard: container, branches, tokens, cost, history.",
    ),
    "logs": Lazy(
        "scad.cli.session.logs:command",
        "What the session's agent did: messages, tool calls, results (for an interactive "
        "session, from Claude's transcripts).",
    ),
    "resume": Lazy(
        "scad.cli.session.resume:command",
        "Start a stopped session again: same clones, Claude continues its conversation.",
    ),
    "start": Lazy(
        "scad.cli.session.start:command",
        "Start a session of CONFIG: its own container, clones and branch.",
    ),
    "status": Lazy(
        "scad.cli.session.status:command",
        "Sessions with their state, activity, turns, tokens and cost.",
    ),
    "stop": Lazy(
        "scad.cli.session.stop:command",
        "Stop sessions; clones and Claude state are kept (resume to continue).",
    ),
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
def session() -> None:
    """Start, attach to, watch, stop and clean sessions."""
