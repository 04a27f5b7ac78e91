"""A run's containers: its own adopted when its id never reached ``run.json``; every
one the home made for it, found by its label, removed; and a run's earlier
containers put away before it starts again."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from ..engine import ContainerState, labels
from ..home import Home
from .catchup import catch_up
from .records import RunRecord, save_run

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["STOP_GRACE", "adopt_container", "remove_containers", "retire_containers"]

#: Seconds a container gets to stop before it is killed.
STOP_GRACE = 10


async def adopt_container(
    engine: Engine, home: Home, record: RunRecord, listed: ContainerState | None = None
) -> None:
    """Give ``record`` the id of its container when the id never reached ``run.json``
    (scad killed between creating and saving): the engine's run and home labels say
    whose it is. ``listed``: the container a listing found for the run, if any."""
    if record.container_id or record.cleaned:
        return
    here = labels.home_label(home)
    if listed is None:
        found = await engine.containers({labels.RUN: record.run_id})
        listed = next((c for c in found if labels.made_by(c.labels, here)), None)
    if listed is not None and labels.made_by(listed.labels, here):
        record.container_id = listed.id
        await anyio.to_thread.run_sync(save_run, home, record)


async def retire_containers(engine: Engine, home: Home, record: RunRecord) -> None:
    """Put away a run's containers before it starts again: what its last one printed
    is caught up first (the engine's log goes with it), then every one of them goes."""
    await catch_up(engine, home, record)
    await remove_containers(engine, home, record)


async def remove_containers(engine: Engine, home: Home, record: RunRecord) -> None:
    """Every container of the run: the one ``run.json`` names, and any of this home
    that its label finds (an id may never have reached ``run.json``)."""
    here = labels.home_label(home)
    listed = await engine.containers({labels.RUN: record.run_id})
    found = {c.id for c in listed if labels.made_by(c.labels, here)}
    for each in found | ({record.container_id} if record.container_id else set()):
        await engine.remove(each, force=True)
