"""`scad code ...`: move branches between the host repos and runs' clones."""

import asyncclick as click

from .._app import HelpGroup
from . import fetch, merge, refresh, sync


@click.group(cls=HelpGroup)
def code() -> None:
    """Fetch runs' branches, sync the host's into them, refresh their credentials, merge them."""


for module in (fetch, sync, refresh, merge):
    code.add_command(module.command)
