"""A swarm's data: what scad asks of a swarm manager (a one-task job service) and what
it gets back (its task, the swarm's nodes). Kept apart from the client, as ``_types`` is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import msgspec

from ._types import Limits, Security

__all__ = ["NodeState", "SecretFile", "ServiceSpec", "SwarmEngine", "TaskState"]


class SecretFile(msgspec.Struct, frozen=True, kw_only=True):
    """A swarm secret given to a service's container as ``/run/secrets/<file>``."""

    secret_id: str
    secret_name: str
    file: str
    uid: str
    gid: str
    mode: int = 0o400


class ServiceSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One replicated-job service of one task, never restarted by the swarm (scad
    keeps its own retries). Secrets go in ``secrets``, never ``env`` or labels:
    both are in the service's spec, which anyone who can inspect it reads."""

    name: str
    #: ``repository@digest``: every node runs the very image that was pushed.
    image: str
    labels: dict[str, str]
    command: list[str]
    #: ``uid:gid``; empty: the image's user.
    user: str = ""
    env: dict[str, str] = {}
    workdir: str | None = None
    secrets: list[SecretFile] = []
    limits: Limits = Limits()
    #: What a node must have free for the task to be placed there (cpus, memory).
    reservations: Limits = Limits()
    #: Placement constraints (``node.labels.gpu==true``).
    constraints: list[str] = []
    security: Security = Security()
    init: bool = True


class TaskState(msgspec.Struct, frozen=True, kw_only=True):
    """A service's task as the manager reports it."""

    id: str
    #: None until the task is placed on a node.
    node_id: str | None = None
    #: ``new`` ... ``running``, ``complete``, ``failed``, ``rejected``, ...
    state: str
    desired_state: str = ""
    exit_code: int | None = None
    #: The manager's word on a failure (``task: non-zero exit (3)``, a pull refused).
    error: str | None = None
    #: What the manager says of the state (``pending: no suitable node``).
    message: str = ""
    #: When the task reached its state (RFC 3339).
    timestamp: str | None = None

    @property
    def over(self) -> bool:
        """The task will never run (again): it ended, or the swarm gave it up."""
        return self.state in ("complete", "failed", "shutdown", "rejected", "orphaned", "remove")


class NodeState(msgspec.Struct, frozen=True, kw_only=True):
    """A swarm node as the manager sees it."""

    id: str
    hostname: str
    #: ``ready``, ``down``, ``disconnected``, ``unknown``.
    state: str
    #: ``active``, ``pause``, ``drain``.
    availability: str
    message: str = ""
    #: ``manager`` or ``worker``.
    role: str = ""
    labels: dict[str, str] = {}
    engine_labels: dict[str, str] = {}
    os: str = ""
    arch: str = ""


class SwarmEngine(Protocol):
    """The swarm manager's face: what a run on the swarm asks of it."""

    async def registry_digest(self, reference: str) -> str | None:
        """The digest of ``reference`` (``registry/repository:tag``) in its registry, or
        None when the registry does not have it."""
        ...

    async def push_image(self, image: str, repository: str, tag: str) -> str:
        """Tag ``image`` as ``repository:tag`` and push it; the pushed digest."""
        ...

    async def create_secret(self, name: str, data: bytes, labels: dict[str, str]) -> str: ...

    async def remove_secret(self, secret_id: str) -> None: ...

    async def create_service(self, spec: ServiceSpec) -> str: ...

    async def remove_service(self, service_id: str) -> None: ...

    async def services(self, labels: dict[str, str]) -> list[str]: ...

    async def tasks(self, service_id: str) -> list[TaskState]: ...

    async def node(self, node_id: str) -> NodeState | None: ...

    async def nodes(self) -> list[NodeState]: ...

    async def task_stderr(self, task_id: str, *, tail: int) -> list[str]:
        """The stderr entries among the last ``tail`` of the task's log (a tail counted
        over both streams, as :meth:`.Engine.logs`)."""
        ...

    def open_task_logs(
        self, task_id: str, *, since: str | None = None, follow: bool = True
    ) -> AbstractAsyncContextManager[AsyncIterator[list[bytes]]]:
        """The task's timestamped stdout entries (since the UNIX time ``since``), as
        :meth:`~scad.engine.Engine.open_logs` hands them over; with
        ``follow`` the stream does not end when the task does: the caller watches the
        task and leaves."""
        ...
