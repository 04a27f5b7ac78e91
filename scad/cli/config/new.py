import asyncclick as click

from ...config.registry import new_config
from .._app import Application, pass_app
from .edit import edit_and_validate


@click.command("new")
@click.argument("name")
@click.option("--edit", "open_editor", is_flag=True, help="Open it in $EDITOR.")
@pass_app
def command(app: Application, name: str, open_editor: bool) -> None:
    """Scaffold a commented config named NAME."""
    home = app.home
    path = new_config(home, name)
    click.echo(f"created {path}")
    if open_editor:
        edit_and_validate(home, name)
