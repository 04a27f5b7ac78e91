"""The root command: its table of commands, and the application it hands them."""

from __future__ import annotations

import asyncclick as click

from .. import __version__
from ._app import Application, ScadGroup
from ._groups import Lazy

__all__ = ["cli"]

#: Each command, the module that defines it and its line in ``scad --help``.
COMMANDS = {
    "batch": Lazy(
        "scad.cli.batch:batch",
        "Run many prompts at once, each as a headless run in its own container and branch.",
    ),
    "build": Lazy("scad.cli.build:build", "Build the image for CONFIG (cached by content)."),
    "code": Lazy(
        "scad.cli.code:code",
        "Fetch runs' branches, sync the host's into them, refresh their credentials, merge them.",
    ),
    "config": Lazy(
        "scad.cli.config:config", "Create, register, check and inspect project configs."
    ),
    "demo": Lazy(
        "scad.cli.demo:demo",
        "Watch four agents work on a throwaway project, against the offline model.",
    ),
    "doctor": Lazy(
        "scad.cli.doctor:doctor",
        "Check that this host can run sessions: the engine, images, configs, credentials, "
        "CA certificates, disk, mounts, live-restore, and a container of each built image; "
        "for a config that runs on a swarm, its manager, nodes, registry, and a job on a node.",
    ),
    "gateway": Lazy(
        "scad.cli.gateway:gateway", "The model gateway: the one way runs reach the model API."
    ),
    "gc": Lazy(
        "scad.cli.gc:gc",
        "List what scad left behind that nothing needs (a dry run); --force removes it.",
    ),
    "logs": Lazy(
        "scad.cli.logs:logs",
        "What the agents of several runs did, merged by time (all runs by default).",
    ),
    "offline": Lazy(
        "scad.cli.offline:offline",
        "The offline model: a scripted Messages API for trying scad without an account.",
    ),
    "project": Lazy("scad.cli.project:project", "Look at a config's runs together."),
    "review": Lazy("scad.cli.review:review", "What a batch's runs did, or one run's whole diff."),
    "session": Lazy(
        "scad.cli.session:session", "Start, attach to, watch, stop and clean sessions."
    ),
    "ui": Lazy("scad.cli.ui:ui", "Watch runs and batches live in a browser (until Ctrl-C)."),
}


@click.group(cls=ScadGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scad")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run Claude Code agents in isolated Docker containers, many at once."""
    if ctx.obj is None:  # tests hand in an application of their own
        ctx.obj = Application.for_host()
