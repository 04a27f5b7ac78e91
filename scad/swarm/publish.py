"""The run image on a swarm's registry: pushed once, by its content hash, and named
by digest, so every node runs the very image that was built here."""

from __future__ import annotations

import anyio

from ..engine import SwarmEngine

__all__ = ["publish_image", "registry_name"]

#: One push of an image at a time in a process (a batch's runs prepare together).
_publishing: dict[str, anyio.Lock] = {}


def registry_name(registry: str, image: str) -> tuple[str, str]:
    """``image`` (``repository:hash``) as the registry's repository and tag: the tag is
    the image's content hash, so an image is pushed only when it is new."""
    repository, _, tag = image.rpartition(":")
    return f"{registry.rstrip('/')}/{repository.rsplit('/', 1)[-1]}", tag


async def publish_image(swarm: SwarmEngine, registry: str, image: str) -> str:
    """``image`` in ``registry`` (pushed unless it has it); ``repository@digest``."""
    repository, tag = registry_name(registry, image)
    lock = _publishing.setdefault(f"{repository}:{tag}", anyio.Lock())
    async with lock:
        digest = await swarm.registry_digest(f"{repository}:{tag}")
        if digest is None:
            digest = await swarm.push_image(image, repository, tag)
    return f"{repository}@{digest}"
