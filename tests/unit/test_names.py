from datetime import datetime

import pytest

from scad.errors import UsageError
from scad.names import (
    branch_name,
    doctor_container_name,
    is_doctor_container,
    make_run_id,
    validate_tag,
)

NOW = datetime(2026, 3, 2, 14, 0)


def test_run_id_format() -> None:
    assert make_run_id("myproj", "feat1", NOW, existing=()) == "myproj-feat1-Mar02-1400"


def test_run_id_made_unique() -> None:
    taken = {"myproj-feat1-Mar02-1400", "myproj-feat1-Mar02-1400-2"}
    assert make_run_id("myproj", "feat1", NOW, existing=taken) == "myproj-feat1-Mar02-1400-3"


def test_branch_name() -> None:
    assert branch_name("myproj-feat1-Mar02-1400") == "scad-myproj-feat1-Mar02-1400"


@pytest.mark.parametrize("tag", ["a", "feat-1", "Fix_2", "x" * 40])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag",
    [
        pytest.param("", id="empty"),
        pytest.param("-x", id="leading-dash"),
        pytest.param("a b", id="space"),
        pytest.param("a..b", id="dots"),
        pytest.param("a/b", id="slash"),
        pytest.param("x" * 41, id="too-long"),
        pytest.param("héllo", id="non-ascii"),
    ],
)
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(UsageError, match=f'invalid tag "{tag}"'):
        validate_tag(tag)


def test_a_doctor_container_is_told_by_its_whole_name() -> None:
    name = doctor_container_name("proj", "0123abcd")
    assert name == "scad-doctor-proj-0123abcd" and is_doctor_container(name)
    # Runs of a config named "doctor" end in their time (and a count when taken).
    first = make_run_id("doctor", "abcd0123", NOW, set())
    second = make_run_id("doctor", "abcd0123", NOW, {first})
    assert second.endswith("-2")
    for run_id in (first, second):
        assert not is_doctor_container(f"scad-{run_id}")
    for name in ("scad-doctor-proj-0123abc", "scad-doctor--0123abcd", "scad-doctor-proj-0123ABCD"):
        assert not is_doctor_container(name)
