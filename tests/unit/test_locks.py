"""hold_flock: an exclusive lock waited for without blocking, cancelled or timed out
without taking anything."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from scad.locks import hold_flock

pytestmark = pytest.mark.anyio


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Path]:
    """A lock file another process's descriptor holds for the test."""
    path = tmp_path / "the.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield path
    finally:
        os.close(fd)


def is_free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_the_lock_is_held_for_the_block_and_released_after(tmp_path: Path) -> None:
    path = tmp_path / "the.lock"
    async with hold_flock(path, wait=0.0):
        assert not is_free(path)
        assert os.stat(path).st_mode & 0o777 == 0o600
    assert is_free(path)


async def test_the_deadline_raises_and_the_holder_keeps_its_lock(held: Path) -> None:
    before = open_descriptors()
    with pytest.raises(TimeoutError, match="stayed locked"):
        async with hold_flock(held, wait=0.0, poll=0.001):
            pytest.fail("taken while another holds it")
    assert not is_free(held)
    assert open_descriptors() == before


async def test_a_cancelled_waiter_takes_and_releases_nothing(held: Path) -> None:
    before = open_descriptors()
    entered = False
    async with anyio.create_task_group() as tg:

        async def wait_for_it() -> None:
            nonlocal entered
            async with hold_flock(held, wait=3600.0):
                entered = True

        tg.start_soon(wait_for_it)
        await anyio.wait_all_tasks_blocked()  # the waiter is between two tries
        tg.cancel_scope.cancel()
    assert not entered
    assert not is_free(held)  # the holder's lock stays
    assert open_descriptors() == before


async def test_a_link_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    (tmp_path / "the.lock").symlink_to(target)
    with pytest.raises(OSError):
        async with hold_flock(tmp_path / "the.lock", wait=0.0):
            pass
    assert not target.exists()
