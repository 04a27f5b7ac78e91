"""`scad config ...`: manage project configs."""

import asyncclick as click

from .._app import HelpGroup
from . import add, edit, info, list, new, remove, view


@click.group(cls=HelpGroup)
def config() -> None:
    """Create, register, check and inspect project configs."""


for module in (list, new, view, edit, add, remove, info):
    config.add_command(module.command)
