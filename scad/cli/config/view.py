import asyncclick as click

from ...config.registry import registered_file
from ...errors import ConfigError
from ...home import scad_home
from .._complete import config_names


@click.command("view")
@click.argument("name", shell_complete=config_names)
def command(name: str) -> None:
    """Print the config file NAME."""
    path = registered_file(scad_home(), name)
    try:
        text = path.read_text()
    except OSError as exc:  # a link whose file is gone
        raise ConfigError(path.name, f"cannot read: {exc.strerror}") from None
    click.echo(text, nl=False)
