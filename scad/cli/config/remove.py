import asyncclick as click

from ...errors import NotFound, UsageError
from ...home import scad_home
from ...registry import remove_config
from .._complete import config_names


@click.command("remove")
@click.argument("name", shell_complete=config_names)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before deleting a config scad owns.")
def command(name: str, yes: bool) -> None:
    """Unregister config NAME (a linked file is left where it is)."""
    home = scad_home()
    path = home.config_file(name)
    if not path.exists() and not path.is_symlink():
        raise NotFound(f'no config named "{name}"; see `scad config list`')
    if not path.is_symlink() and not yes:
        if not click.get_text_stream("stdin").isatty():
            raise UsageError(
                f"{path} is scad's own copy and would be deleted; pass --yes to confirm"
            )
        click.confirm(f"delete {path}?", abort=True)
    entry = remove_config(home, name)
    if entry.owned:
        click.echo(f"deleted {entry.path}")
    else:
        click.echo(f"unregistered {name} (kept {entry.target})")
