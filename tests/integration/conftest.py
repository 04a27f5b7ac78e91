"""Integration fixtures: a real Docker engine, and the images CI makes.

Under CI a missing engine fails the run; elsewhere the tests skip, loudly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from scad.engine import Engine, open_engine
from scad.errors import EngineUnavailable
from tests.conftest import in_ci

#: The base image .ci/base-image.sh makes when no registry is reachable.
BASE_IMAGE = os.environ.get("SCAD_TEST_BASE_IMAGE", "python:3.11-slim")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.docker)


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    try:
        async with open_engine() as engine:
            if await engine.image(BASE_IMAGE) is None:
                raise EngineUnavailable(
                    f"base image {BASE_IMAGE} is missing; run .ci/base-image.sh"
                )
            yield engine
    except EngineUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI needs a Docker engine: {exc}")
        pytest.skip(f"NO DOCKER ENGINE, integration test skipped: {exc}")


@pytest.fixture
def test_label() -> str:
    """A label value unique to one test, to find (and clean) what it made."""
    return f"test-{uuid.uuid4().hex[:12]}"
