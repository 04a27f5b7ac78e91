"""A run's containers: every one the home made for it, found by its label, removed;
and a run's earlier containers put away before it starts again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine import labels
from ..home import Home
from .catchup import catch_up
from .records import RunRecord

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["remove_containers", "retire_containers"]


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
