"""`scad code ...`: move branches between the host repos and runs' clones."""

import asyncclick as click

from .._groups import Lazy, LazyGroup

COMMANDS = {
    "fetch": Lazy("scad.cli.code.fetch:command", "Bring runs' branches into the host repos."),
    "merge": Lazy(
        "scad.cli.code.merge:command",
        "Merge a batch's runs into BRANCH of each host repo, one run at a time.",
    ),
    "refresh": Lazy(
        "scad.cli.code.refresh:command",
        "Give a session made before the gateway the host's current Claude credentials (also "
        "while it runs); a run of the gateway has nothing to refresh.",
    ),
    "sync": Lazy(
        "scad.cli.code.sync:command", "Bring the host repos' branches into a run's clones."
    ),
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
def code() -> None:
    """Fetch runs' branches, sync the host's into them, refresh their credentials, merge them."""
