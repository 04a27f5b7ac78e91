import asyncclick as click

from ...config.registry import registered_file, remove_config
from .._app import Application, pass_app
from .._complete import config_names
from .._confirm import confirm


@click.command("remove")
@click.argument("name", shell_complete=config_names)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before deleting a config scad owns.")
@pass_app
def command(app: Application, name: str, yes: bool) -> None:
    """Unregister config NAME (a linked file is left where it is)."""
    home = app.home
    path = registered_file(home, name)
    if not path.is_symlink() and not yes:
        confirm(
            f"delete {path}?",
            refusal=f"{path} is scad's own copy and would be deleted; pass --yes to confirm",
        )
    entry = remove_config(home, name)
    if entry.owned:
        click.echo(f"deleted {entry.path}")
    else:
        click.echo(f"unregistered {name} (kept {entry.target})")
