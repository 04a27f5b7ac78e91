import asyncclick as click

from ...config.registry import registered_file
from ...errors import ConfigError
from .._app import Application, pass_app
from .._complete import config_names


@click.command("view")
@click.argument("name", shell_complete=config_names)
@pass_app
def command(app: Application, name: str) -> None:
    """Print the config file NAME."""
    path = registered_file(app.home, name)
    try:
        text = path.read_text()
    except OSError as exc:  # a link whose file is gone
        raise ConfigError(path.name, f"cannot read: {exc.strerror}") from None
    click.echo(text, nl=False)
