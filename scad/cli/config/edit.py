import asyncclick as click

from ...errors import NotFound
from ...home import Home, scad_home
from ...registry import load_registered
from .._complete import config_names


def edit_and_validate(home: Home, name: str) -> None:
    """Open the config in $EDITOR, then validate it; the file is kept either way."""
    path = home.config_file(name)
    if not path.exists():
        raise NotFound(f'no config named "{name}"; see `scad config list`')
    click.edit(filename=str(path.resolve()))
    load_registered(home, name)
    click.echo(f"{name}: valid")


@click.command("edit")
@click.argument("name", shell_complete=config_names)
def command(name: str) -> None:
    """Edit config NAME in $EDITOR and validate it on return."""
    edit_and_validate(scad_home(), name)
