"""Pages as text: every value escaped on its way in, tables whose rows the page's
script can replace live from the same cells, and the page around them. Pure.

An agent writes much of what a page shows (branch names, commit subjects, file
names, log lines, tags, details): nothing here ever takes a value as HTML. Only
what this package's own functions build is :class:`Html`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from ..text import printable

__all__ = [
    "Cell",
    "Html",
    "Link",
    "button",
    "cells_json",
    "esc",
    "esc_block",
    "page",
    "shown",
    "table",
]


class Html(str):
    """Markup this package built, every value in it escaped already."""


class Link(NamedTuple):
    """A cell that leads to another page of the server's own."""

    text: str
    href: str


Cell = str | int | float | Link | None


def esc(value: object) -> Html:
    """``value`` as text in a page, quotes too (safe in an attribute), and each
    character a person would not see as itself (controls, bidi overrides) escaped
    as the terminal views show it."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(printable("" if value is None else str(value)), quote=True))


def esc_block(text: str) -> Html:
    """Lines of text (a diff, a check's output) for a ``<pre>``: each line as
    :func:`esc` makes it, tabs as spaces; lines end at ``\\n`` only."""
    return Html("\n".join(esc(line.expandtabs(8)) for line in text.split("\n")))


def shown(text: str) -> str:
    """Lines of text as a page's script is to show them: each as :func:`esc_block`
    shows it, not yet escaped (the script sets it as text). What a page renders and
    what its script puts there a second later read the same."""
    return "\n".join(printable(line.expandtabs(8)) for line in text.split("\n"))


def _cell(cell: Cell) -> Html:
    if isinstance(cell, Link):
        return Html(f'<a href="{esc(cell.href)}">{esc(cell.text)}</a>')
    return esc("" if cell is None else cell)


def _row(cells: Sequence[Cell]) -> Html:
    return Html("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in cells) + "</tr>")


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Cell]], *, id: str, live: str | None = None
) -> Html:
    """A table; with ``live``, the address of JSON whose ``tables[id]`` holds its rows
    anew (as :func:`cells_json` makes them), which the page's script polls."""
    source = f' data-live="{esc(live)}"' if live else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(_row(r) for r in rows)
    return Html(
        f'<table id="{esc(id)}"{source}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def cells_json(rows: Iterable[Sequence[Cell]]) -> list[list[object]]:
    """Rows for the page's script: text as strings, links as ``{text, href}``; each
    text as :func:`esc` shows it in the page (an agent's bidi override or escape
    sequence is shown as such, not obeyed)."""
    return [
        [
            {"text": printable(c.text), "href": c.href}
            if isinstance(c, Link)
            else printable("" if c is None else str(c))
            for c in row
        ]
        for row in rows
    ]


def page(title: str, body: Html, *, csrf: str) -> Html:
    """A whole page: the server's own stylesheet and script, and the CSRF token its
    script sends with each action."""
    return Html(
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="scad-csrf" content="{esc(csrf)}">'
        f"<title>{esc(title)} · scad</title>"
        '<link rel="stylesheet" href="/static/ui.css">'
        '<script src="/static/ui.js" defer></script>'
        "</head><body>"
        f'<header><a href="/">scad</a> <span class="title">{esc(title)}</span></header>'
        f'<main>{body}<p id="action-result" role="status"></p></main>'
        "</body></html>\n"
    )


def button(label: str, action: str, confirm: str) -> Html:
    """A button that POSTs to ``action`` once the user confirms ``confirm``."""
    return Html(
        f'<button type="button" data-action="{esc(action)}" data-confirm="{esc(confirm)}">'
        f"{esc(label)}</button>"
    )
