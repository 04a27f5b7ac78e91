"""`scad review BATCH|RUN`: what runs did, worst first; one run's whole diff."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Literal

import asyncclick as click

from ..home import Home
from ..names import ids_named, short_run_id
from ..text import display_width, printable
from ._app import Application, pass_app
from ._json import Document, JsonCommand, JsonOutput, json_option
from ._render import Column, output_option, table_lines, terminal_width
from .project import _cost, _duration

if TYPE_CHECKING:
    from ..review import BatchReview, ReviewRow, RunReview

__all__ = ["batch_table", "review", "run_text"]

#: What --json prints: a batch's review, or a run's.
JSON = Document(("scad.review:BatchReview", "scad.review:RunReview"), items="rows")

#: At 80 columns: the run, how it ended and was judged, its commits and lines changed,
#: cost and duration; ``-o wide`` adds the files changed and what the batch said.
HEADERS = (
    Column("RUN ID"),
    Column("OUTCOME"),
    Column("CHECKS", cut=True),
    Column("AHEAD"),
    Column("FILES", wide=True),
    Column("LINES"),
    Column("COST"),
    Column("DURATION"),
    Column("DETAIL", wide=True),
)


@click.command("review", cls=JsonCommand)
@click.argument("target", metavar="BATCH_ID|RUN_ID")
@json_option(JSON)
@output_option
@pass_app
async def review(
    app: Application, target: str, as_json: JsonOutput | None, output: str | None
) -> None:
    """What a batch's runs did, or one run's whole diff.

    For a batch: each prompt's final run with its outcome, checks, commits, files
    and lines changed against its base, cost and duration; those that need a look
    first (checks failed or a pinned path changed, then failed, hung, budget, ...,
    then succeeded runs that changed something, then those that changed nothing).
    For a run: the same, its commits, what the agent said last, the output of any
    check that failed, and its diff. Diffs are read from scad's copy of each clone
    (git never runs in a clone), against where the run left the host's default branch.
    """
    from ..review import review_batch, review_run

    home = app.home
    kind, whole = _named(home, target)
    if kind == "batch":
        batch = await review_batch(home, whole)
        if as_json:
            as_json.echo(batch)
            return
        click.echo(batch_table(batch, wide=output == "wide", known=home.run_ids()))
        _warn(batch.rows)
        return
    run = await review_run(home, whole)
    if as_json:
        as_json.echo(run)
        return
    click.echo(run_text(run))
    _warn(run.rows)


def _named(home: Home, text: str) -> tuple[Literal["batch", "run"], str]:
    """Whether ``text`` names a batch or a run, and its whole id. Raises NotFound or
    UsageError with one line, as naming either does elsewhere."""
    from ..batch.store import find_batch_id, list_batches
    from ..errors import UsageError
    from ..runs.records import find_run

    batches = ids_named(text, list_batches(home))
    runs = ids_named(text, home.run_ids())
    if batches and runs and text not in (*batches, *runs):
        raise UsageError(
            f'"{text}" begins both batch and run ids ({", ".join([*batches, *runs][:6])}); '
            "give more of one"
        )
    if batches and text not in runs:
        return "batch", find_batch_id(home, text)
    return "run", find_run(home, text).run_id


def _warn(rows: list[ReviewRow]) -> None:
    for row in rows:
        if row.problem:
            click.echo(
                f"warning: {row.run_id}: changes unknown: {printable(row.problem)}", err=True
            )


def batch_table(
    batch: BatchReview, *, wide: bool = False, width: int | None = None, known: Collection[str] = ()
) -> str:
    """The rows, worst first, under a line naming the batch. When the table is wider
    than ``width`` (else the terminal), each run id is as short as names it alone."""
    ids = {*known, *(r.run_id for r in batch.rows if r.run_id)}

    def lines(compact: bool) -> list[str]:
        rows = [
            _cells(r, short_run_id(r.run_id, ids) if compact and r.run_id else None)
            for r in batch.rows
        ]
        return table_lines(HEADERS, rows, wide=wide, width=width)

    shown = lines(compact=False)
    limit = width if width is not None else (None if wide else terminal_width())
    if limit is not None and max(display_width(line) for line in shown) > limit:
        shown = lines(compact=True)
    count = len(batch.rows)
    head = f"batch {batch.batch_id} ({batch.config}): {count} prompt{'' if count == 1 else 's'}"
    return "\n".join([head + (", still running" if batch.running else ""), *shown])


def _cells(row: ReviewRow, run_id: str | None) -> tuple[object, ...]:
    unknown = row.problem is not None
    return (
        run_id or row.run_id or f"({row.tag}: no run)",
        row.outcome or "-",
        _checks(row),
        "?" if unknown else row.ahead,
        "?" if unknown else row.files_changed,
        "?" if unknown else f"+{row.insertions} -{row.deletions}",
        _cost(row.cost_usd, row.cost_estimated),
        "-" if row.duration_ms is None else _duration(row.duration_ms),
        row.detail or "",
    )


def _checks(row: ReviewRow) -> str:
    """``failed: tests, lint``, ``pinned changed``, ``2 passed``, or ``-`` (none ran)."""
    said = []
    if row.checks.failed:
        said.append(f"failed: {', '.join(row.checks.failed)}")
    if row.changed_pinned:
        said.append("pinned changed")
    if row.checks.passed and not row.checks.failed:
        said.append(f"{len(row.checks.passed)} passed")
    return "; ".join(said) or "-"


def run_text(run: RunReview) -> str:
    """One run: its figures, checks, commits, what the agent said last and its diff,
    every line shown as :func:`~scad.text.printable` makes it (whatever a field holds:
    a git error can quote a name the agent chose)."""
    (row,) = run.rows
    out = [
        f"run {row.run_id}",
        f"outcome  {row.outcome or '-'}" + (f" ({printable(row.detail)})" if row.detail else ""),
        f"checks   {_checks(row)}",
        f"changes  {row.ahead} commit{'' if row.ahead == 1 else 's'}, "
        f"{row.files_changed} file{'' if row.files_changed == 1 else 's'}, "
        f"+{row.insertions} -{row.deletions}",
        f"cost     {_cost(row.cost_usd, row.cost_estimated)}",
        f"duration {'-' if row.duration_ms is None else _duration(row.duration_ms)}",
    ]
    if row.changed_pinned:
        out.append(f"pinned paths it changed: {', '.join(row.checks.pinned)}")
    for check in run.checked:
        if not check.passed and check.output:
            out += ["", f"check {printable(check.name)} failed; its last output:"]
            out += [f"  {line}" for line in _shown(check.output)]
    out += ["", "what the agent said last:"]
    out += [f"  {line}" for line in _shown(run.last_message)] if run.last_message else ["  -"]
    for repo in run.repos:
        out += ["", f"repo {repo.key}" + (f": {repo.problem}" if repo.problem else "")]
        for commit in repo.commits:
            out.append(f"  {commit.sha[:12]} {commit.subject}")
        if repo.ahead > len(repo.commits):
            out.append(f"  ... {repo.ahead - len(repo.commits)} more")
        if repo.diff:
            out += ["", *_shown(repo.diff)]
        if repo.diff_cut:
            out.append("[the diff goes on: longer than scad shows]")
    # Escaping what is escaped already changes nothing: a backslash shows as itself.
    return "\n".join(_line(line) for line in out)


def _shown(text: str) -> list[str]:
    """An agent's text as lines a terminal shows as they are: tabs as spaces, then
    every control, escape or bidi character escaped. Lines end at ``\\n`` only."""
    return [_line(line) for line in text.split("\n")]


def _line(text: str) -> str:
    """One line as a terminal shows it: tabs as spaces, every other character that is
    not itself escaped (a newline too: the line stays one)."""
    return printable(text.expandtabs(8))
