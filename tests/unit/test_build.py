"""Build orchestration against a fake engine: the error paths and pruning."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.config.loading import parse_config
from scad.engine._types import BuildLine, ImageInfo
from scad.errors import BaseImageMissing, BuildFailed
from scad.home import Home
from scad.image.build import BuildProgress, build_context, build_image
from tests.fakes import FakeEngine, container_using

pytestmark = pytest.mark.anyio

BASE = ImageInfo(id="sha256:base", tags=["python:3.11-slim"], labels={}, created="")
HOME, OTHER_HOME = Home(Path("/homes/one")), Home(Path("/homes/two"))


@pytest.fixture
def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "code").mkdir()
    return parse_config(
        "name: proj\nrepos: {code: {path: code, workdir: true}}\n", label="p.yml", base_dir=tmp_path
    )


def old_image(tag: str) -> ImageInfo:
    return ImageInfo(id=f"sha256:{tag}", tags=[tag], labels={}, created="")


async def test_missing_base_image_that_cannot_be_pulled(config) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine()
    with pytest.raises(BaseImageMissing) as caught:
        await build_image(engine, HOME, config)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "base image python:3.11-slim is not present and cannot be pulled; load or tag it locally "
        "(docker load / docker tag ... python:3.11-slim) or set image.base in the config"
    )
    assert engine.built == []


async def test_missing_base_image_is_pulled_when_possible(config) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine(pullable=True)
    result = await build_image(engine, HOME, config)  # type: ignore[arg-type]
    assert result.up_to_date is False and engine.built == [result.image]


async def test_failed_step_names_the_step_and_keeps_its_output(config) -> None:  # type: ignore[no-untyped-def]
    lines = [
        BuildLine("Step 1/3 : FROM python:3.11-slim"),
        BuildLine(" ---> abc"),
        BuildLine("Step 2/3 : RUN apt-get install nope"),
        BuildLine("Reading package lists..."),
        BuildLine("E: Unable to locate package nope"),
        BuildLine(
            "The command '/bin/sh -c apt-get install nope' returned a non-zero code: 100",
            error=True,
        ),
    ]
    events: list[BuildProgress] = []
    engine = FakeEngine(images=[BASE], build_lines=lines)
    with pytest.raises(BuildFailed) as caught:
        await build_image(engine, HOME, config, progress=events.append)  # type: ignore[arg-type]
    tag = build_context(HOME, config).tag
    assert str(caught.value) == (
        f"build of {tag} failed at step 2/3 (RUN apt-get install nope): "
        "The command '/bin/sh -c apt-get install nope' returned a non-zero code: 100"
    )
    assert caught.value.output == ("Reading package lists...", "E: Unable to locate package nope")
    assert [(e.step, e.line) for e in events] == [
        (1, None),
        (1, " ---> abc"),
        (2, None),
        (2, "Reading package lists..."),
        (2, "E: Unable to locate package nope"),
    ]


async def test_up_to_date_does_not_build(config) -> None:  # type: ignore[no-untyped-def]
    tag = build_context(HOME, config).tag
    engine = FakeEngine(images=[BASE, old_image(tag)])
    result = await build_image(engine, HOME, config)  # type: ignore[arg-type]
    assert result.up_to_date is True and result.image == tag
    assert engine.built == []


async def test_prune_keeps_images_in_use_and_other_homes_images(config) -> None:  # type: ignore[no-untyped-def]
    repository = build_context(HOME, config).repository
    theirs = build_context(OTHER_HOME, config).repository
    used, unused = old_image(f"{repository}:aaaa"), old_image(f"{repository}:bbbb")
    shared = ImageInfo(
        id="sha256:shared", tags=[f"{repository}:cccc", f"{theirs}:cccc"], labels={}, created=""
    )
    others = [old_image(f"{theirs}:dddd"), old_image("scad-other:eeee")]
    engine = FakeEngine(
        images=[BASE, used, unused, shared, *others], containers=[container_using(used.id)]
    )
    result = await build_image(engine, HOME, config)  # type: ignore[arg-type]
    # This home's tag of the shared image goes; the other home's keeps it.
    assert result.pruned == engine.removed == [f"{repository}:bbbb", f"{repository}:cccc"]


async def test_two_homes_have_their_own_tags_of_one_image(config) -> None:  # type: ignore[no-untyped-def]
    """Another home built the same content: it is tagged into this home's repository,
    not built again, and neither home's ``latest`` is the other's."""
    engine = FakeEngine(images=[BASE])
    first = await build_image(engine, OTHER_HOME, config)  # type: ignore[arg-type]
    second = await build_image(engine, HOME, config)  # type: ignore[arg-type]
    assert engine.built == [first.image]
    assert second.up_to_date and second.image == build_context(HOME, config).tag
    assert second.image != first.image
    (image,) = [i for i in engine.image_list if first.image in i.tags]
    mine, theirs = build_context(HOME, config), build_context(OTHER_HOME, config)
    assert sorted(image.tags) == sorted([mine.tag, mine.latest, theirs.tag, theirs.latest])


async def test_an_image_that_only_inherits_the_labels_is_not_taken(config) -> None:  # type: ignore[no-untyped-def]
    """An image built FROM a scad image carries its labels: it is not that image."""
    engine = FakeEngine(images=[BASE])
    first = await build_image(engine, OTHER_HOME, config)  # type: ignore[arg-type]
    (built,) = [i for i in engine.image_list if first.image in i.tags]
    child = ImageInfo(id="sha256:child", tags=["mine:1"], labels=dict(built.labels), created="")
    engine.image_list[:] = [BASE, child]
    second = await build_image(engine, HOME, config)  # type: ignore[arg-type]
    assert not second.up_to_date and engine.built == [first.image, second.image]
    assert child.tags == ["mine:1"]
