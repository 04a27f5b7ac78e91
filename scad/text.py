"""Showing text an agent wrote (commit subjects, file names, its output) on a terminal. Pure."""

from __future__ import annotations

import re

__all__ = ["printable"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe to show: control characters (escape sequences that could rewrite
    the screen or the clipboard) and bytes that were not UTF-8 are shown as escapes."""
    if text.isprintable():
        return text  # the common case, and much faster than what follows
    text = text.encode("utf-8", "backslashreplace").decode()
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
