"""Asking before a destructive or wide action."""

from __future__ import annotations

import asyncclick as click

from ..errors import UsageError


def confirm(question: str, *, refusal: str) -> None:
    """Ask ``question`` on a terminal; without one, stop with ``refusal`` (which names --yes)."""
    if not click.get_text_stream("stdin").isatty():
        raise UsageError(refusal)
    click.confirm(question, abort=True)
