"""`scad session ...`: start, watch and manage sessions."""

import asyncclick as click

from .._app import HelpGroup
from . import attach, clean, info, logs, resume, start, status, stop


@click.group(cls=HelpGroup)
def session() -> None:
    """Start, attach to, watch, stop and clean sessions."""


for module in (start, resume, attach, stop, clean, status, logs, info):
    session.add_command(module.command)
