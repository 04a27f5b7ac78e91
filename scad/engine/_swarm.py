"""The swarm manager's edge: services, tasks, nodes, secrets and the registry, over the
same aiodocker client as the engine's containers."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiodocker
import anyio

from ..errors import EngineError
from ._internals import engine_json, task_log_response
from ._logs import entries, last_texts
from ._rawhttp import REQUEST_TIMEOUT
from ._requests import mapped, request
from ._swarmtypes import NodeState, ServiceSpec, TaskState
from ._swarmwire import node_state, service_body, task_state

__all__ = ["DockerSwarm"]


class DockerSwarm:
    """The :class:`~scad.engine._swarmtypes.SwarmEngine` of a Docker engine that is a
    swarm manager."""

    def __init__(self, docker: aiodocker.Docker) -> None:
        self._docker = docker

    async def registry_digest(self, reference: str) -> str | None:
        try:
            with request(f"look up {reference} in its registry"):
                found = await engine_json(self._docker, f"distribution/{reference}/json")
        except EngineError as exc:
            if exc.status in (401, 403, 404, 500):  # the engine reports "not found" as 500 too
                return None
            raise
        digest = (found.get("Descriptor") or {}).get("digest")
        return str(digest) if digest else None

    async def push_image(self, image: str, repository: str, tag: str) -> str:
        with request(f"tag {image} as {repository}:{tag}"):
            await self._docker.images.tag(image, repository, tag=tag)
        digest = ""
        with request(f"push {repository}:{tag}", timeout=None):  # the caller bounds it
            async for progress in self._docker.images.push(repository, tag=tag, stream=True):
                if "error" in progress:
                    raise EngineError(f"push of {repository}:{tag}: {progress['error']}")
                digest = (progress.get("aux") or {}).get("Digest", digest)
        if not digest:
            raise EngineError(f"push of {repository}:{tag} reported no digest")
        return digest

    async def create_secret(self, name: str, data: bytes, labels: dict[str, str]) -> str:
        encoded = base64.b64encode(data).decode()
        with request(f"create secret {name}"):
            made = await self._docker.secrets.create(name, encoded, b64=True, labels=labels)
        return str(made["ID"])

    async def remove_secret(self, secret_id: str) -> None:
        try:
            with request(f"remove secret {secret_id[:12]}"):
                await self._docker.secrets.delete(secret_id)
        except EngineError as exc:
            if exc.status != 404:
                raise

    async def create_service(self, spec: ServiceSpec) -> str:
        with request(f"create service {spec.name}"):
            made = await engine_json(
                self._docker, "services/create", method="POST", body=service_body(spec)
            )
        return str(made["ID"])

    async def remove_service(self, service_id: str) -> None:
        try:
            with request(f"remove service {service_id[:12]}"):
                await self._docker.services.delete(service_id)
        except EngineError as exc:
            if exc.status != 404:
                raise

    async def services(self, labels: dict[str, str]) -> list[str]:
        wanted = [f"{key}={value}" for key, value in labels.items()]
        with request("list services"):
            rows = await self._docker.services.list(filters={"label": wanted})
        return [str(row["ID"]) for row in rows]

    async def tasks(self, service_id: str) -> list[TaskState]:
        with request(f"list tasks of {service_id[:12]}"):
            rows = await self._docker.tasks.list(filters={"service": [service_id]})
        return [task_state(row) for row in rows]

    async def node(self, node_id: str) -> NodeState | None:
        try:
            with request(f"inspect node {node_id[:12]}"):
                data = await self._docker.nodes.inspect(node_id=node_id)
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise
        return node_state(data)

    async def nodes(self) -> list[NodeState]:
        with request("list swarm nodes"):
            rows = await self._docker.nodes.list()
        return [node_state(row) for row in rows]

    async def task_stderr(self, task_id: str, *, tail: int) -> list[str]:
        params = {"stderr": "1", "follow": "0", "tail": str(tail)}
        what = f"stderr of task {task_id[:12]}"
        query = task_log_response(self._docker, task_id, params)
        with request(what):
            response = await query.__aenter__()
        try:
            log = mapped(entries(response.content.iter_any()), what, REQUEST_TIMEOUT)
            return await last_texts(log, tail)
        finally:
            with anyio.CancelScope(shield=True):
                await query.__aexit__(None, None, None)

    @asynccontextmanager
    async def open_task_logs(
        self, task_id: str, *, since: str | None = None, follow: bool = True
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        params: dict[str, Any] = {"stdout": "1", "follow": str(int(follow)), "timestamps": "1"}
        if since is not None:
            params["since"] = since
        what = f"logs of task {task_id[:12]}"
        query = task_log_response(self._docker, task_id, params)
        with request(what):
            response = await query.__aenter__()
        try:
            yield mapped(
                entries(response.content.iter_any()),
                what,
                None if follow else REQUEST_TIMEOUT,
            )
        finally:
            with anyio.CancelScope(shield=True):
                await query.__aexit__(None, None, None)
