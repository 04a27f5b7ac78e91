"""Rendering helpers shared by commands: tables and JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncclick as click
import msgspec


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain, left-aligned text table."""
    cells = [
        [str(c) for c in headers],
        *[[("" if c is None else str(c)) for c in row] for row in rows],
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
