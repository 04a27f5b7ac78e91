"""`scad build CONFIG`."""

from __future__ import annotations

import shutil
import sys

import asyncclick as click

from ..config.registry import load_registered
from ..errors import BuildFailed
from ..image.build import BuildProgress, build_image
from ._app import Application, pass_app
from ._complete import config_names
from ._json import Document, JsonCommand, JsonOutput, json_option


class ProgressPrinter:
    """Build progress: on a terminal one live line per step showing its latest
    output; piped, a plain line per step; verbose, every line."""

    def __init__(self, *, verbose: bool, live: bool) -> None:
        self.verbose = verbose
        self.live = live and not verbose
        self._header = ""

    def __call__(self, event: BuildProgress) -> None:
        if event.line is None:
            self.close()
            self._header = f"step {event.step}/{event.total}: {event.instruction}"
            self._show(self._header)
        elif self.verbose:
            click.echo(f"    {event.line}")
        elif self.live:
            self._show(f"{self._header}  | {event.line.strip()}")

    def _show(self, text: str) -> None:
        if self.live:
            width = shutil.get_terminal_size().columns
            click.echo("\r\x1b[K" + text[: width - 1], nl=False)
        else:
            click.echo(text)

    def close(self) -> None:
        """End the live line (showing the step's header alone)."""
        if self.live and self._header:
            self._show(self._header)
            click.echo()
            self._header = ""


#: What --json prints.
JSON = Document(("scad.image.build:BuildResult",))


@click.command("build", cls=JsonCommand)
@click.argument("config_name", metavar="CONFIG", shell_complete=config_names)
@click.option("--rebuild", is_flag=True, help="Build even if an image of the same content exists.")
@click.option("--no-cache", is_flag=True, help="Rebuild every layer (implies --rebuild).")
@click.option("--verbose", "-v", is_flag=True, help="Show every line of build output.")
@json_option(JSON, help="Print the result as JSON.")
@pass_app
async def build(
    app: Application,
    config_name: str,
    rebuild: bool,
    no_cache: bool,
    verbose: bool,
    as_json: JsonOutput | None,
) -> None:
    """Build the image for CONFIG (cached by content)."""

    home = app.home
    config = load_registered(home, config_name)
    printer = ProgressPrinter(verbose=verbose, live=sys.stdout.isatty())
    try:
        async with app.open_engine() as engine:
            result = await build_image(
                engine,
                home,
                config,
                rebuild=rebuild,
                use_cache=not no_cache,
                progress=None if as_json else printer,
            )
    except BuildFailed as exc:
        printer.close()
        for line in exc.output:
            click.echo(f"    {line}", err=True)
        raise
    printer.close()
    if as_json:
        as_json.echo(result)
    elif result.up_to_date:
        click.echo(f"{result.image} is up to date")
    else:
        click.echo(f"built {result.image} in {result.duration_ms / 1000:.1f} s")
        for tag in result.pruned:
            click.echo(f"removed old image {tag}")
