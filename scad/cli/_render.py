"""Rendering helpers shared by commands: tables and JSON."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncclick as click
import msgspec

from ..runs.records import parse_iso
from ..text import printable

if TYPE_CHECKING:
    from ..config.schema import Config


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain, left-aligned text table. Its cells often quote an agent (session ids,
    subjects, outcomes): each is shown as :func:`printable` makes it."""
    cells = [
        [str(c) for c in headers],
        *[[("" if c is None else printable(str(c))) for c in row] for row in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def echo_json(value: Any) -> None:
    """Print ``value`` (Structs included) as indented JSON."""
    click.echo(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


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
