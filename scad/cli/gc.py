"""`scad gc [--force] [--json]`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import asyncclick as click

from ._app import Application, pass_app
from ._json import Document, JsonCommand, JsonOutput, json_option
from ._progress import ProgressLine
from ._render import Column, output_option, table

if TYPE_CHECKING:
    from ..gc import GcPlan, GcResult

_NOUNS = {
    "container": ("container", "containers"),
    "run": ("run", "runs"),
    "batch": ("batch", "batches"),
    "borrowed": ("borrowed store", "borrowed stores"),
    "image": ("image", "images"),
    "temp": ("temporary file", "temporary files"),
}


#: What --json prints.
JSON = Document(("scad.cli._documents:GcReport",), items="items")


@click.command("gc", cls=JsonCommand)
@click.option("--force", is_flag=True, help="Remove what a dry run lists.")
@click.option(
    "--other-homes",
    is_flag=True,
    help="Also list what other scad homes on this engine made (always kept).",
)
@json_option(JSON, help="Print the plan (and results) as JSON.")
@output_option
@pass_app
async def gc(
    app: Application, force: bool, other_homes: bool, as_json: JsonOutput | None, output: str | None
) -> None:
    """List what scad left behind that nothing needs (a dry run); --force removes it.

    Orphan containers of this scad home (their run directory is gone), run
    directories whose container and clones are gone, batches whose runs are all
    cleaned, the copies of host repos (borrowed stores) that no run's clones
    borrow from, images no container uses that are not their config's newest (or
    whose config is gone), and stale temporary files. What it keeps is listed
    after, with why. A run whose clones exist is never collected, nor the store
    its clones borrow from, nor a container another scad home made.
    """
    from ..gc import apply_gc, plan_gc

    home = app.home
    async with app.open_engine() as engine:
        with ProgressLine(quiet=as_json is not None) as progress:
            plan = await plan_gc(engine, home, progress=progress)
        with ProgressLine(quiet=as_json is not None) as progress:
            results = await apply_gc(engine, home, plan, progress=progress) if force else None
    if as_json:
        from ._documents import GcReport

        as_json.echo(
            GcReport(items=plan.items, kept=plan.kept, size_bytes=plan.size_bytes, results=results)
        )
    elif results is None:
        _show_plan(plan, other_homes=other_homes, wide=output == "wide")
    else:
        _show_results(plan, results, wide=output == "wide")
    if results is not None and any(r.outcome == "failed" for r in results):
        raise click.exceptions.Exit(1)


def _show_plan(plan: GcPlan, *, other_homes: bool, wide: bool) -> None:
    """What would go first, then what stays: another home's only when asked."""
    if plan.items:
        rows = [
            (i.kind, shown_name(i.kind, i.name, wide), _size(i.size_bytes), i.reason)
            for i in plan.items
        ]
        click.echo(table(_ITEM_COLUMNS, rows, wide=wide))
        click.echo(f"total: {_counts(i.kind for i in plan.items)}; {_size(plan.size_bytes)}")
        click.echo("`scad gc --force` removes them")
    else:
        click.echo("nothing to collect")
    kept = [k for k in plan.kept if other_homes or k.home is None]
    if kept:
        click.echo("\nkept:")
        click.echo(
            table(
                _KEPT_COLUMNS,
                [(k.kind, shown_name(k.kind, k.name, wide), k.reason) for k in kept],
                wide=wide,
            )
        )
    if hidden := len(plan.kept) - len(kept):
        click.echo(
            f"\n{hidden} kept for other scad homes on this engine; "
            "`scad gc --other-homes` lists them"
        )


#: Kinds and names are never cut; the reasons are, to fit the terminal.
_ITEM_COLUMNS = (Column("KIND"), Column("NAME"), Column("SIZE"), Column("WHY", cut=True))
_KEPT_COLUMNS = (Column("KIND"), Column("NAME"), Column("WHY", cut=True))
_RESULT_COLUMNS = (Column("KIND"), Column("NAME"), Column("OUTCOME"), Column("DETAIL", cut=True))


def shown_name(kind: str, name: str, wide: bool) -> str:
    """``name`` as the table shows it: a borrowed store's (its repo's name, then 16
    digits of its path's digest) with 8 of the digits, which tell stores apart, so
    that a row fits 80 columns; whole with ``-o wide`` (and in ``--json``)."""
    if kind != "borrowed" or wide:
        return name
    stem = name.removesuffix(".git")
    prefix, dash, digest = stem.rpartition("-")
    return f"{prefix}-{digest[:8]}…" if dash and len(digest) > 8 else name


def _show_results(plan: GcPlan, results: list[GcResult], *, wide: bool) -> None:
    if not results:
        click.echo("nothing to collect")
        return
    rows = [(r.kind, shown_name(r.kind, r.name, wide), r.outcome, r.detail or "") for r in results]
    click.echo(table(_RESULT_COLUMNS, rows, wide=wide))
    removed = [r for r in results if r.outcome == "removed"]
    freed = sum(
        i.size_bytes or 0
        for i, r in zip(plan.items, results, strict=True)
        if r.outcome == "removed"
    )
    line = f"removed {_counts(r.kind for r in removed) or 'nothing'}; {_size(freed)} freed"
    failed = sum(r.outcome == "failed" for r in results)
    skipped = sum(r.outcome == "skipped" for r in results)
    if skipped:
        line += f"; {skipped} skipped"
    if failed:
        line += f"; {failed} failed"
    click.echo(line)


def _counts(kinds: Iterable[str]) -> str:
    """``1 container, 2 runs``, in the order gc lists kinds."""
    counted = Counter(kinds)
    return ", ".join(
        f"{counted[kind]} {one if counted[kind] == 1 else many}"
        for kind, (one, many) in _NOUNS.items()
        if counted[kind]
    )


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
