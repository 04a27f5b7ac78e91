import asyncclick as click

from ...config.registry import new_config
from ...home import scad_home
from .edit import edit_and_validate


@click.command("new")
@click.argument("name")
@click.option("--edit", "open_editor", is_flag=True, help="Open it in $EDITOR.")
def command(name: str, open_editor: bool) -> None:
    """Scaffold a commented config named NAME."""
    home = scad_home()
    path = new_config(home, name)
    click.echo(f"created {path}")
    if open_editor:
        edit_and_validate(home, name)
