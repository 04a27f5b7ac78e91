"""How far long work has come, told to whoever shows it (the CLI, on a terminal)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

__all__ = ["OnProgress", "Progress"]


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """``done`` of ``total`` steps of the work ``what`` names (``counting cost with ccusage``)."""

    what: str
    done: int
    total: int


#: Hears each step of long work; it must not block (it is called on the event loop).
OnProgress = Callable[[Progress], None]
