"""The scad command line: parse arguments, call the library, render the result.

Command modules are imported only when their command runs (or help lists
them), and none imports the Docker client at import time, so commands that do
not talk to Docker start fast.
"""

from __future__ import annotations

import asyncclick as click

from .. import __version__
from ._app import Application, ScadGroup

__all__ = ["cli", "main"]


@click.group(
    cls=ScadGroup,
    lazy_commands={
        "batch": "scad.cli.batch:batch",
        "config": "scad.cli.config:config",
        "demo": "scad.cli.demo:demo",
        "doctor": "scad.cli.doctor:doctor",
        "build": "scad.cli.build:build",
        "code": "scad.cli.code:code",
        "gateway": "scad.cli.gateway:gateway",
        "gc": "scad.cli.gc:gc",
        "logs": "scad.cli.logs:logs",
        "offline": "scad.cli.offline:offline",
        "project": "scad.cli.project:project",
        "review": "scad.cli.review:review",
        "session": "scad.cli.session:session",
        "ui": "scad.cli.ui:ui",
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="scad")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run Claude Code agents in isolated Docker containers, many at once."""
    if ctx.obj is None:  # tests hand in an application of their own
        ctx.obj = Application.for_host()


def main() -> None:
    try:
        cli(prog_name="scad", _anyio_backend="asyncio")
    except KeyboardInterrupt:
        # Work in flight was rolled back or left consistent by its own cleanup.
        raise SystemExit(130) from None
