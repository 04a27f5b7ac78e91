"""Task groups that keep their function's error contract.

An anyio task group raises what its children raised wrapped in an
``ExceptionGroup``, even a single error. A library function that promises
:class:`~scad.errors.ScadError` opens its groups with :func:`open_task_group`,
so the group is collapsed where it is: when every error in it is a ScadError,
the first one leaves (its type and message unchanged); anything else in it
(a bug, a cancellation) leaves as the group it is. Callers never unwrap groups.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup

from .errors import ScadError

__all__ = ["first_scad_error", "open_task_group"]


def first_scad_error(group: BaseExceptionGroup[BaseException]) -> ScadError | None:
    """The first error of ``group`` (however deeply nested), when all of them are
    ScadErrors; None when any is not. The first to fail is the cause; others that
    failed at the same moment are most often its echoes."""
    leaves = _leaves(group)
    if not all(isinstance(leaf, ScadError) for leaf in leaves):
        return None
    first = leaves[0]
    assert isinstance(first, ScadError)
    return first


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    return [
        leaf
        for exc in group.exceptions
        for leaf in (_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    ]


@asynccontextmanager
async def open_task_group() -> AsyncIterator[TaskGroup]:
    """``anyio.create_task_group()`` whose children's ScadErrors leave it as one."""
    error: ScadError | None = None
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        error = first_scad_error(group)
        if error is None:
            raise
    if error is not None:
        # Raised outside the handler: the error keeps its own cause and context.
        raise error
