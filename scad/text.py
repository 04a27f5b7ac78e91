"""Showing text an agent wrote (commit subjects, file names, its output) on a terminal. Pure."""

from __future__ import annotations

import unicodedata

__all__ = ["NODE_WIDTH", "clip", "display_width", "node_name", "printable"]

#: The most columns a swarm node's name takes: the engine names a node by the
#: hostname its owner gave it, which can be anything.
NODE_WIDTH = 64


def printable(text: str) -> str:
    """``text`` as it really is, safe to show: every character a terminal would not
    show as itself is shown as an escape. That is control characters (escape
    sequences could rewrite the screen or the clipboard), bidirectional overrides
    and isolates (``evil<U+202E>gpj.exe`` would read as ``evilexe.jpg``), invisible
    format characters (zero-width spaces and joiners), separators other than the
    space, unassigned and private code points, and bytes that were not UTF-8."""
    if text.isprintable():
        return text  # the common case, and much faster than what follows
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def display_width(text: str) -> int:
    """The columns ``text`` (as :func:`printable` shows it) takes on a terminal: two
    for each wide character (CJK, most emoji), none for a combining mark, one for
    any other."""
    if text.isascii():
        return len(text)  # the common case
    return sum(_char_width(char) for char in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def clip(cell: str, width: int) -> str:
    """``cell``, cut to ``width`` columns of a terminal with ``…`` when wider: after
    a whole word when it can be, so a number in the text is shown whole or not at all."""
    if display_width(cell) <= width:
        return cell
    end = taken = 0
    while taken + display_width(cell[end]) <= width - 1:  # room for the ellipsis
        taken += display_width(cell[end])
        end += 1
    kept = cell[:end]
    if not cell[end].isspace() and " " in kept:
        kept = kept[: kept.rindex(" ")]
    return kept.rstrip() + "\u2026"


def node_name(node: str) -> str:
    """A swarm node's name as scad shows it: escaped (see :func:`printable`) and cut
    to :data:`NODE_WIDTH` columns."""
    return clip(printable(node), NODE_WIDTH)
