"""`scad batch status|watch|stop|resume|retry BATCH_ID`."""

from __future__ import annotations

import asyncclick as click

from ...batch.store import list_batches, load_manifest
from ...config.registry import load_registered
from ...errors import UsageError
from ...home import scad_home
from .._app import Application, pass_app
from .._json import Document, JsonCommand, JsonOutput, json_option
from .._names import named_batch
from .._render import output_option, table
from .._watch import watch as follow
from .._watch import watch_option
from ._options import supervise_here
from ._view import VIEW_JSON, show_batch, summary


def _batch_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    # Completion runs no command: it reads the home from $SCAD_HOME, not the application.
    return [b for b in list_batches(scad_home()) if b.startswith(incomplete)]


batch_id_argument = click.argument(
    "batch_id", metavar="BATCH_ID", shell_complete=_batch_ids, callback=named_batch
)


#: What --json prints: a batch, or every batch.
JSON = Document(("scad.batch.view:BatchView", "scad.cli._documents:BatchList"), items="rows")


@click.command("status", cls=JsonCommand)
@click.argument(
    "batch_id",
    metavar="[BATCH_ID]",
    required=False,
    shell_complete=_batch_ids,
    callback=named_batch,
)
@json_option(JSON)
@output_option
@watch_option
@pass_app
async def status(
    app: Application,
    batch_id: str | None,
    as_json: JsonOutput | None,
    output: str | None,
    watch: bool,
) -> None:
    """Where a batch stands, from its logs (every batch, without BATCH_ID)."""
    from ...batch.view import BatchWatcher

    home = app.home
    if watch and batch_id is not None:
        watcher = BatchWatcher(home, batch_id)

        async def look() -> str:
            view = await watcher.look()
            if as_json:
                return as_json.text(view)
            return summary(view, wide=output == "wide", known=home.run_ids())

        await follow(look)
        return
    if watch:
        raise UsageError("--watch follows one batch: give its BATCH_ID")
    if batch_id is None:
        views = [await BatchWatcher(home, b).look() for b in list_batches(home)]
        if as_json:
            from .._documents import BatchList

            as_json.echo(BatchList(batches=views))
            return
        rows = [
            (v.batch_id, v.supervisor, v.totals.prompts,
             ", ".join(f"{n} {o}" for o, n in sorted(v.totals.outcomes.items())),
             f"${v.totals.cost_usd:.4f}")
            for v in views
        ]  # fmt: skip
        click.echo(table(("BATCH", "SUPERVISOR", "PROMPTS", "OUTCOMES", "COST"), rows))
        return
    view = await BatchWatcher(home, batch_id).look()
    if as_json:
        as_json.echo(view)
    else:
        click.echo(summary(view, wide=output == "wide", known=home.run_ids()))
    if view.done and not view.succeeded:
        raise click.exceptions.Exit(1)


@click.command("watch", cls=JsonCommand)
@batch_id_argument
@json_option(VIEW_JSON, help="Print the summary as JSON at the end (only FIELDS).")
@output_option
@pass_app
async def watch(
    app: Application, batch_id: str, as_json: JsonOutput | None, output: str | None
) -> None:
    """Show a batch live until it ends (Ctrl-C leaves it running)."""
    view = await show_batch(
        app.home, batch_id, as_json=as_json, detachable=True, wide=output == "wide"
    )
    if not view.succeeded:
        raise click.exceptions.Exit(1)


@click.command("stop")
@batch_id_argument
@pass_app
async def stop(app: Application, batch_id: str) -> None:
    """Stop a batch: its runs are stopped, kept, and end as cancelled."""
    from ...batch.process import stop_batch

    home = app.home
    load_manifest(home, batch_id)
    async with app.open_engine() as engine:
        await stop_batch(engine, home, batch_id)
    click.echo(f"stopped {batch_id}")


def _again(name: str, failed_only: bool, doc: str) -> click.Command:
    @click.command(name, help=doc, cls=JsonCommand)
    @batch_id_argument
    @click.option("--foreground", is_flag=True, help="Supervise in this process.")
    @json_option(VIEW_JSON, help="Print the summary as JSON (only FIELDS).")
    @pass_app
    async def again(
        app: Application, batch_id: str, foreground: bool, as_json: JsonOutput | None
    ) -> None:
        from ...batch.process import requeue, spawn_supervisor

        home = app.home
        manifest = load_manifest(home, batch_id)
        config = load_registered(home, manifest.config)
        items = requeue(home, batch_id, failed_only=failed_only)
        if not as_json:
            click.echo(f"{name}: {len(items)} prompts of {batch_id}")
        if foreground:
            view = await supervise_here(app, config, batch_id, as_json=as_json)
        else:
            await spawn_supervisor(home, batch_id)
            view = await show_batch(home, batch_id, as_json=as_json, detachable=True)
        if not view.succeeded:
            raise click.exceptions.Exit(1)

    return again


resume = _again(
    "resume",
    False,
    "Pick up a batch whose supervisor died: runs still going are adopted, queued prompts start.",
)
retry = _again("retry", True, "Run again the prompts of an ended batch that did not succeed.")
