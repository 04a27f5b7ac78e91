"""Ids as the user gives them: any unique beginning of one names it."""

from __future__ import annotations

import asyncclick as click

from ._app import Application

__all__ = ["named_batch"]


def named_batch(ctx: click.Context, param: click.Parameter, text: str | None) -> str | None:
    """A parameter callback: the whole id of the batch ``text`` names."""
    from ..batch.store import find_batch_id

    if text is None:
        return None
    app: Application = ctx.find_root().obj
    return find_batch_id(app.home, text)
