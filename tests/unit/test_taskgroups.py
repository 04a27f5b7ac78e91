"""A task group's errors leave it as the one ScadError its function promises; a bug
or a cancellation leaves as it came."""

from __future__ import annotations

import anyio
import pytest

from scad.errors import EngineUnavailable, GitError, ScadError, SessionError
from scad.taskgroups import first_scad_error, open_task_group

pytestmark = pytest.mark.anyio


async def fail(error: BaseException, after: anyio.Event | None = None) -> None:
    if after is not None:
        await after.wait()
    raise error


async def test_one_childs_error_leaves_as_itself() -> None:
    error = GitError("git clone failed: no such repository")
    with pytest.raises(GitError) as raised:
        async with open_task_group() as tg:
            tg.start_soon(fail, error)
            tg.start_soon(anyio.sleep_forever)  # a sibling: cancelled, not reported
    assert raised.value is error


async def test_the_bodys_own_error_leaves_as_itself() -> None:
    with pytest.raises(SessionError, match=r"^the run is gone$"):
        async with open_task_group() as tg:
            tg.start_soon(anyio.sleep_forever)
            raise SessionError("the run is gone")


async def test_of_several_errors_the_first_leaves_with_its_type() -> None:
    first, second = EngineUnavailable("the engine went away"), GitError("clone b failed")
    failed = anyio.Event()

    async def fail_first() -> None:
        try:
            raise first
        finally:
            failed.set()

    async def fail_second() -> None:
        with anyio.CancelScope(shield=True):  # fails too, however the group cancels it
            await failed.wait()
        raise second

    with pytest.raises(EngineUnavailable) as raised:
        async with open_task_group() as tg:
            tg.start_soon(fail_second)
            tg.start_soon(fail_first)
    assert raised.value is first


async def test_an_error_keeps_its_own_cause() -> None:
    async def translate() -> None:
        try:
            raise OSError("disk full")
        except OSError as exc:
            raise SessionError("cannot write the run's state") from exc

    with pytest.raises(SessionError) as raised:
        async with open_task_group() as tg:
            tg.start_soon(translate)
    assert isinstance(raised.value.__cause__, OSError)


async def test_a_bug_stays_a_group_with_everything_in_it() -> None:
    both = anyio.Event()

    async def bug() -> None:
        with anyio.CancelScope(shield=True):
            await both.wait()
        raise KeyError("bug")

    async def scad_error() -> None:
        both.set()
        raise SessionError("the run is gone")

    with pytest.raises(BaseExceptionGroup) as raised:
        async with open_task_group() as tg:
            tg.start_soon(bug)
            tg.start_soon(scad_error)
    assert raised.group_contains(KeyError) and raised.group_contains(SessionError)


async def test_a_lone_bug_is_not_taken_for_a_scad_error() -> None:
    with pytest.raises(BaseExceptionGroup) as raised:
        async with open_task_group() as tg:
            tg.start_soon(fail, ValueError("bug"))
    assert raised.group_contains(ValueError)


async def test_cancellation_passes_through() -> None:
    reached = anyio.Event()
    with anyio.CancelScope() as outer:
        async with open_task_group() as tg:
            tg.start_soon(anyio.sleep_forever)
            reached.set()
            outer.cancel()
            await anyio.sleep_forever()
    assert reached.is_set() and outer.cancelled_caught


async def test_a_group_that_ends_well_raises_nothing() -> None:
    done: list[int] = []

    async def one(n: int) -> None:
        done.append(n)

    async with open_task_group() as tg:
        for n in range(3):
            tg.start_soon(one, n)
    assert sorted(done) == [0, 1, 2]


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        pytest.param(BaseExceptionGroup("g", [GitError("a")]), "a", id="one"),
        pytest.param(
            BaseExceptionGroup(
                "g", [BaseExceptionGroup("h", [SessionError("deep")]), GitError("b")]
            ),
            "deep",
            id="nested",
        ),
        pytest.param(BaseExceptionGroup("g", [GitError("a"), KeyError("bug")]), None, id="bug"),
        pytest.param(
            BaseExceptionGroup("g", [GitError("a"), KeyboardInterrupt()]), None, id="interrupt"
        ),
    ],
)
def test_first_scad_error(group: BaseExceptionGroup[BaseException], expected: str | None) -> None:
    found = first_scad_error(group)
    assert (str(found) if isinstance(found, ScadError) else found) == expected
