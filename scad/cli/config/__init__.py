"""`scad config ...`: manage project configs."""

import asyncclick as click

from .._groups import Lazy, LazyGroup

COMMANDS = {
    "add": Lazy(
        "scad.cli.config.add:command",
        "Validate the config at PATH and register it (as a link) under its name.",
    ),
    "edit": Lazy(
        "scad.cli.config.edit:command", "Edit config NAME in $EDITOR and validate it on return."
    ),
    "info": Lazy(
        "scad.cli.config.info:command",
        "Summarise config NAME: repos, mounts, Python, plugins, image.",
    ),
    "list": Lazy(
        "scad.cli.config.list:command",
        "List registered configs; invalid ones are marked, not fatal.",
    ),
    "new": Lazy("scad.cli.config.new:command", "Scaffold a commented config named NAME."),
    "remove": Lazy(
        "scad.cli.config.remove:command",
        "Unregister config NAME (a linked file is left where it is).",
    ),
    "view": Lazy("scad.cli.config.view:command", "Print the config file NAME."),
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
def config() -> None:
    """Create, register, check and inspect project configs."""
