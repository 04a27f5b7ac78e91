from functools import partial
from pathlib import Path

import anyio
import asyncclick as click

from ...code import hostrepo
from ...config.certificates import host_certificates
from ...config.registry import new_config
from .._app import Application, pass_app
from .edit import edit_and_validate


@click.command("new")
@click.argument("name")
@click.option("--edit", "open_editor", is_flag=True, help="Open it in $EDITOR.")
@pass_app
async def command(app: Application, name: str, open_editor: bool) -> None:
    """Scaffold a commented config named NAME.

    Its repo is the git repository you are in (when you are in one), and its image
    trusts the extra CA certificates this host trusts (a TLS-intercepting proxy's).
    """
    home = app.home
    repo = await hostrepo.top_level(Path.cwd())
    certificates = await anyio.to_thread.run_sync(host_certificates)
    path = await anyio.to_thread.run_sync(
        partial(new_config, home, name, repo=repo, certificates=certificates)
    )
    click.echo(f"created {path}")
    if repo is not None:
        click.echo(f"  repo: {repo}")
    if certificates:
        click.echo(f"  CA certificates: {', '.join(certificates)}")
    if open_editor:
        edit_and_validate(home, name)
