"""`scad batch report BATCH_ID -o FILE [--force]`."""

from __future__ import annotations

import os
from functools import partial

import anyio
import asyncclick as click

from ...errors import UsageError
from .._app import Application, pass_app
from .manage import batch_id_argument


@click.command("report")
@batch_id_argument
@click.option(
    "-o", "--output", "target", required=True, metavar="FILE",
    help="Where to write it (`-` for standard output).",
)  # fmt: skip
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@pass_app
async def report(app: Application, batch_id: str, target: str, force: bool) -> None:
    """Write a batch as one self-contained HTML file, to attach to a pull request or a
    ticket: its header, its timeline, its items and each run's summary (no script, no
    outside asset: any browser shows it offline)."""
    from ...reports.batchreport import batch_report_html, gather_batch_report

    html = batch_report_html(await gather_batch_report(app.home, batch_id))
    if target == "-":
        click.echo(html)
        return
    await anyio.to_thread.run_sync(partial(_write, target, html, force=force))
    click.echo(f"wrote {target}", err=True)


def _write(target: str, html: str, *, force: bool) -> None:
    """Write ``html`` to ``target``; without ``force``, only a file that did not exist."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError:
        raise UsageError(f"{target} exists; --force replaces it") from None
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None
    with open(fd, "w", encoding="utf-8") as out:
        out.write(html)
