"""The one thing scad asks of aiodocker that its public API does not give: a
container's log as the raw response, to read as it arrives.

aiodocker's own ``container.log`` first inspects the container, then reads each
entry in two small reads and decodes it on its own, which costs most of a long
catch-up and splits a character the engine cut between entries. A swarm task's log
and a few swarm calls (:func:`task_log_response`, :func:`engine_json`) come the same
way. This is the only
module that reaches into aiodocker's internals; a test against the real engine
fails here when aiodocker changes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiodocker
import aiohttp

__all__ = ["engine_json", "log_response", "task_log_response"]


def log_response(
    docker: aiodocker.Docker, container_id: str, params: Mapping[str, Any]
) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """``GET /containers/{id}/logs`` with ``params``, its multiplexed body unread and
    without a time limit (the caller bounds each read); the response is released when
    the block is left."""
    return docker._query(f"containers/{container_id}/logs", params=dict(params), timeout=None)


def task_log_response(
    docker: aiodocker.Docker, task_id: str, params: Mapping[str, Any]
) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """``GET /tasks/{id}/logs`` (aiodocker has no call for it), as :func:`log_response`."""
    return docker._query(f"tasks/{task_id}/logs", params=dict(params), timeout=None)


async def engine_json(
    docker: aiodocker.Docker, path: str, *, method: str = "GET", body: Any = None
) -> Any:
    """A JSON answer of the engine's API at ``path`` (the calls aiodocker lacks, or
    wraps with a rewrite of the body: the distribution endpoint, service creation)."""
    data = None if body is None else json.dumps(body)
    return await docker._query_json(path, method=method, data=data)
