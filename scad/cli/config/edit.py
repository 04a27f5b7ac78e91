import asyncclick as click

from ...config.registry import load_registered, registered_file
from ...home import Home
from ...interrupts import ctrl_c_ignored
from .._app import Application, pass_app
from .._complete import config_names


def edit_and_validate(home: Home, name: str) -> None:
    """Open the config in $EDITOR, then validate it; the file is kept either way."""
    with ctrl_c_ignored():
        click.edit(filename=str(registered_file(home, name).resolve()))
    load_registered(home, name)
    click.echo(f"{name}: valid")


@click.command("edit")
@click.argument("name", shell_complete=config_names)
@pass_app
def command(app: Application, name: str) -> None:
    """Edit config NAME in $EDITOR and validate it on return."""
    edit_and_validate(app.home, name)
