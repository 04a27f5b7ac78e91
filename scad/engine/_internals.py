"""The one thing scad asks of aiodocker that its public API does not give: a
container's log as the raw response, to read as it arrives.

aiodocker's own ``container.log`` first inspects the container, then reads each
entry in two small reads and decodes it on its own, which costs most of a long
catch-up and splits a character the engine cut between entries. This is the only
module that reaches into aiodocker's internals; a test against the real engine
fails here when aiodocker changes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiodocker
import aiohttp

__all__ = ["log_response"]


def log_response(
    docker: aiodocker.Docker, container_id: str, params: Mapping[str, Any]
) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """``GET /containers/{id}/logs`` with ``params``, its multiplexed body unread and
    without a time limit (the caller bounds each read); the response is released when
    the block is left."""
    return docker._query(f"containers/{container_id}/logs", params=dict(params), timeout=None)
