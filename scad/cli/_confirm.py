"""Asking before a destructive or wide action."""

from __future__ import annotations

import asyncclick as click

from ..errors import UsageError
from ..interrupts import ctrl_c_aborts


def confirm(question: str, *, refusal: str) -> None:
    """Ask ``question`` on a terminal; without one, stop with ``refusal`` (which names --yes)."""
    if not click.get_text_stream("stdin").isatty():
        raise UsageError(refusal)
    with ctrl_c_aborts():  # the loop waits on the answer: a Ctrl-C aborts the prompt
        click.confirm(question, abort=True)
