"""Whether a run's task has lost its node. Pure.

A swarm's job orchestrator does not act on node events: a task on a node that died
reads ``running`` for a day (or, once the node is down, is given up as ``shutdown``
with no exit of its own), and one on a drained node goes on. scad reads the node
itself and ends the attempt: a node the manager reports anything but ready, or
drained under the task, has lost it. A task that completed or failed by itself
keeps its exit, whatever became of its node.
"""

from __future__ import annotations

from ..engine import NodeState, TaskState

__all__ = ["node_loss"]

#: Task states in which a task holds its node (placed, and not over).
_ON_NODE = frozenset({"assigned", "accepted", "preparing", "ready", "starting", "running"})


def _dropped(task: TaskState) -> bool:
    """Ended by the swarm, not by itself: over with no exit code of its own. Seen as
    ``shutdown`` and as ``failed`` when its node died, sometimes while the node still
    read ready. (A task refused on its node, ``rejected``, says why itself.)"""
    return task.over and task.exit_code is None and task.state not in ("complete", "rejected")


def node_loss(task: TaskState, node: NodeState | None) -> str | None:
    """Why ``task`` has lost its node ``node`` (None: it has not; a node the manager no
    longer knows is lost)."""
    if task.node_id is None or not (task.state in _ON_NODE or _dropped(task)):
        return None
    if node is None:
        return f"node {task.node_id[:12]} left the swarm under it"
    if node.state != "ready":
        said = f" ({node.message})" if node.message else ""
        return f"node {node.hostname} is {node.state}{said}"
    if node.availability == "drain":
        return f"node {node.hostname} was drained"
    if _dropped(task):  # before the manager calls its node anything but ready
        return f"node {node.hostname} lost it (the swarm ended its task {task.state}, no exit)"
    return None
