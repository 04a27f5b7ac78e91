"""Rendering helpers shared by commands: tables and JSON."""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import asyncclick as click

from ..names import short_run_id
from ..runs.records import parse_iso
from ..text import clip, display_width, printable

if TYPE_CHECKING:
    from ..config.schema import Config


class Column(NamedTuple):
    """A table's column: shown by default, or only with ``-o wide``; and whether its
    cells are free text that may be cut (with ``…``) to fit the terminal. Numbers
    and ids are never cut: a column of them keeps its width, but a column of run
    ids (``run_ids``) shows each as the beginning that names it when the table is
    too wide even so."""

    header: str
    wide: bool = False
    cut: bool = False
    run_ids: bool = False


#: A cut text column keeps at least this many characters.
MIN_CUT = 5


def terminal_width() -> int | None:
    """The terminal's width when stdout is one; piped: none."""
    if not sys.stdout.isatty():
        return None
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except OSError:  # a terminal that does not say: as if piped
        return None


def table(
    columns: Sequence[str | Column],
    rows: Sequence[Sequence[object]],
    *,
    wide: bool = False,
    width: int | None = None,
    known: Collection[str] = (),
) -> str:
    """A plain, left-aligned text table. Its cells often quote an agent (session ids,
    subjects, outcomes): each is shown as :func:`printable` makes it.

    ``rows`` hold a cell for every column; the ``wide`` columns are shown only when
    ``wide``. Within ``width`` characters (else the terminal's, when there is one),
    the text columns are cut to make the table fit, and when that is not enough,
    run ids are shortened to the beginnings that name them among the rows' and
    ``known`` (see :func:`scad.names.short_run_id`).
    """
    return "\n".join(table_lines(columns, rows, wide=wide, width=width, known=known))


def table_lines(
    columns: Sequence[str | Column],
    rows: Sequence[Sequence[object]],
    *,
    wide: bool = False,
    width: int | None = None,
    known: Collection[str] = (),
) -> list[str]:
    """The lines of :func:`table`, each cell padded to its column's width."""
    cells = table_cells(columns, rows, wide=wide, width=width, known=known)
    return ["  ".join(row).rstrip() for row in cells]


def table_cells(
    columns: Sequence[str | Column],
    rows: Sequence[Sequence[object]],
    *,
    wide: bool = False,
    width: int | None = None,
    known: Collection[str] = (),
) -> list[list[str]]:
    """The header and rows of :func:`table` as padded cells, columns two spaces apart."""
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    shown = [cols[i] for i, c in enumerate(cols) if wide or not c.wide]
    kept = [[cell for i, cell in enumerate(row) if wide or not cols[i].wide] for row in rows]
    limit = width if width is not None else (None if wide else terminal_width())
    cells, widths = _fitted(shown, kept, limit)
    if limit is not None and _span(widths) > limit and any(c.run_ids for c in shown):
        cells, widths = _fitted(shown, _short_ids(shown, kept, known), limit)
    return [[_pad(clip(cell, w), w) for cell, w in zip(row, widths, strict=True)] for row in cells]


def _fitted(
    columns: list[Column], rows: list[list[object]], limit: int | None
) -> tuple[list[list[str]], list[int]]:
    """The header and rows as shown, and each column's width (within ``limit``)."""
    cells = [
        [c.header for c in columns],
        *[[("" if cell is None else printable(str(cell))) for cell in row] for row in rows],
    ]
    widths = [max(display_width(row[j]) for row in cells) for j in range(len(columns))]
    if limit is not None:
        _fit(widths, [c.cut for c in columns], limit)
    return cells, widths


def _span(widths: list[int]) -> int:
    return sum(widths) + 2 * (len(widths) - 1)


def _short_ids(
    columns: list[Column], rows: list[list[object]], known: Collection[str]
) -> list[list[object]]:
    """The rows with each run id shortened to the beginning that names it."""
    ids = {*known, *(str(row[j]) for row in rows for j, c in enumerate(columns) if c.run_ids)}
    return [
        [short_run_id(str(cell), ids) if c.run_ids and cell is not None else cell
         for cell, c in zip(row, columns, strict=True)]
        for row in rows
    ]  # fmt: skip


def _pad(cell: str, width: int) -> str:
    """``cell`` with spaces to take ``width`` columns of a terminal."""
    return cell + " " * (width - display_width(cell))


def _fit(widths: list[int], cut: list[bool], limit: int) -> None:
    """Narrow the cut columns, widest first, until the table is ``limit`` wide: the
    widest only as far as the next, so that the room left is shared."""
    excess = _span(widths) - limit
    while excess > 0:
        candidates = [j for j, c in enumerate(cut) if c and widths[j] > MIN_CUT]
        if not candidates:
            return
        top = max(widths[j] for j in candidates)
        widest = [j for j in candidates if widths[j] == top]
        floor = max([MIN_CUT, *(widths[j] for j in candidates if widths[j] < top)])
        if (top - floor) * len(widest) >= excess:  # the widest give the rest, evenly
            share, extra = divmod(excess, len(widest))
            for n, j in enumerate(widest):
                widths[j] -= share + (1 if n < extra else 0)
            return
        for j in widest:
            widths[j] = floor
        excess -= (top - floor) * len(widest)


def output_option(fn: Any) -> Any:
    """``-o wide``: every column (as kubectl's)."""
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(["wide"]),
        help="wide: every column, however wide the table.",
    )(fn)


def age(timestamp: str, now: datetime | None = None) -> str:
    """``42s``, ``3m``, ``2h``, ``5d``: how long ago an ISO timestamp was."""
    then = parse_iso(timestamp)
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def warn_unwritable_mounts(config: Config) -> None:
    """Say, before a run starts, which of the config's mounts its agent cannot write."""
    from ..layout import agent_ids
    from ..sessions.container import unwritable_mounts

    for warning in unwritable_mounts(config, agent_ids(os.getuid(), os.getgid())):
        click.echo(f"warning: {warning}", err=True)


async def warn_uncommitted_work(config: Config) -> None:
    """Say, before a run is made, which repos hold changes its clones will not have."""
    from ..config.repos import uncommitted_work

    for work in await uncommitted_work(config):
        files = f"{work.files} uncommitted file{'s' if work.files != 1 else ''}"
        click.echo(
            f"warning: repo {work.key} ({work.path}) has {files}; the agent's clone starts "
            "from the last commit without them (commit them first to include them)",
            err=True,
        )
