"""``--on local|swarm``: where a command's runs go, in place of the config's ``runs_on``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncclick as click

if TYPE_CHECKING:
    from ..config.schema import Config
    from ..config.swarm import Target

__all__ = ["on_option", "placed_config"]

on_option = click.option(
    "--on",
    type=click.Choice(["local", "swarm"]),
    help="Where the runs go: this engine, or the config's swarm (default: its runs_on).",
)


def placed_config(config: Config, on: Target | None) -> Config:
    """``config`` with its runs going where ``--on`` says (its own ``runs_on`` without it)."""
    from ..config.swarm import placed

    return placed(config, on or config.runs_on)
