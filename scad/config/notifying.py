"""What a notifier may be: a URL scad POSTs to, or a command it runs. Pure.

``--notify`` and the config's ``notify:`` say the same things; one set of rules
judges both, each problem one line.
"""

from __future__ import annotations

import shlex
from urllib.parse import urlsplit

__all__ = ["command_problem", "is_url", "url_problem"]

#: A notifier URL or command is a line a person typed, not a document.
_MAX_LENGTH = 4096


def is_url(value: str) -> bool:
    """How ``--notify`` tells a URL from a command: a URL begins ``http://`` or
    ``https://``; anything else is a command."""
    return value.strip().lower().startswith(("http://", "https://"))


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be POSTed to, or None."""
    if len(url) > _MAX_LENGTH:
        return f"is longer than {_MAX_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as exc:
        return f'"{url}" is not a URL ({exc})'
    if parts.scheme not in ("http", "https"):
        return f'"{url}" is not an http:// or https:// URL'
    if not parts.hostname:
        return f'"{url}" names no host'
    if parts.username is not None or parts.password is not None:
        return f'"{url}" carries a user name or password; put a token in its path or query'
    if any(ord(char) < 0x21 for char in url):
        return f'"{url}" holds spaces or control characters'
    return None


def command_problem(command: str) -> str | None:
    """Why ``command`` cannot be run, or None."""
    if not command.strip():
        return "is empty; name a program to run"
    if len(command) > _MAX_LENGTH:
        return f"is longer than {_MAX_LENGTH} characters"
    if "\x00" in command:
        return "holds a NUL character"
    try:
        shlex.split(command)
    except ValueError as exc:
        return f"cannot be read as a command line ({exc})"
    return None
