"""A run's services put away before it starts again: a supervisor that died left its
last service on the swarm. What its task printed is read into the run's log first
(the task's log goes with the service), its end is logged, then the service goes."""

from __future__ import annotations

import contextlib

import anyio

from ..engine import SwarmEngine, labels
from ..errors import ScadError
from ..home import Home
from ..runs.envelopes import Exited
from ..runs.events import ingest, mark_lost
from ..runs.lines import event_time
from ..runs.outcomes import Watch
from ..runs.records import RunPaths, RunRecord
from .tasklog import read_rest

__all__ = ["retire_services"]

#: Bound on reading what one left task printed.
READ_SECONDS = 30.0


async def retire_services(swarm: SwarmEngine, home: Home, record: RunRecord) -> None:
    """Every service of this home's run ``record`` caught up and removed; a task that
    was still going is logged as lost, one that ended with its exit."""
    paths = RunPaths(home, record.run_id)
    owned = {labels.RUN: record.run_id, labels.HOME: labels.home_label(home)}
    for service_id in await swarm.services(owned):
        for task in await swarm.tasks(service_id):
            if task.node_id is None:  # never placed: it printed nothing
                continue
            next_line = None
            with contextlib.suppress(ScadError), anyio.move_on_after(READ_SECONDS):
                next_line = await read_rest(swarm, paths, task.id, Watch())
            if task.over and task.exit_code is not None and next_line is not None:
                when = event_time(task.timestamp) if task.timestamp else ""
                await ingest(
                    paths, task.id, next_line, [], exit=Exited(ts=when, exit_code=task.exit_code)
                )
            else:
                await mark_lost(paths, task.id, "its supervisor was gone; its service was removed")
        await swarm.remove_service(service_id)
