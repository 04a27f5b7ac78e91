"""A scripted stand-in for :class:`scad.engine.Engine`, for unit tests of error paths."""

from __future__ import annotations

from collections.abc import AsyncIterator

from scad.errors import EngineError
from scad.specs import BuildLine, ContainerState, ImageInfo


class FakeEngine:
    def __init__(
        self,
        *,
        images: list[ImageInfo] | None = None,
        containers: list[ContainerState] | None = None,
        build_lines: list[BuildLine] | None = None,
        pullable: bool = False,
    ) -> None:
        self.image_list = list(images or [])
        self.container_list = list(containers or [])
        self.build_lines = build_lines or []
        self.pullable = pullable
        self.removed: list[str] = []
        self.built: list[str] = []

    async def image(self, reference: str) -> ImageInfo | None:
        return next((i for i in self.image_list if reference in i.tags), None)

    async def images(self, repository: str) -> list[ImageInfo]:
        return [i for i in self.image_list if any(t.startswith(f"{repository}:") for t in i.tags)]

    async def pull(self, reference: str) -> None:
        if not self.pullable:
            raise EngineError(f"pull {reference}: no such host")
        self.image_list.append(
            ImageInfo(id=f"sha256:{reference}", tags=[reference], labels={}, created="")
        )

    async def tag_image(self, image: str, repository: str, tag: str) -> None:
        found = await self.image(image)
        assert found is not None
        found.tags.append(f"{repository}:{tag}")

    async def remove_image(self, reference: str) -> None:
        self.removed.append(reference)

    async def build(
        self, context: bytes, *, tag: str, labels: dict[str, str], use_cache: bool = True
    ) -> AsyncIterator[BuildLine]:
        for line in self.build_lines:
            yield line
            if line.error:
                return
        self.built.append(tag)
        self.image_list.append(ImageInfo(id=f"sha256:{tag}", tags=[tag], labels=labels, created=""))

    async def containers(self, labels: dict[str, str | None]) -> list[ContainerState]:
        return self.container_list


def container_using(image_id: str) -> ContainerState:
    return ContainerState(
        id="c1",
        name="c1",
        image="x",
        image_id=image_id,
        status="exited",
        running=False,
        exit_code=0,
        labels={},
    )
