from datetime import datetime

import pytest

from scad.errors import UsageError
from scad.names import (
    branch_name,
    doctor_container_name,
    ids_like,
    ids_named,
    is_doctor_container,
    make_run_id,
    short_run_id,
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


KNOWN = [
    "calc-day1-Dec06-1400",
    "calc-day1-Dec06-1400-2",
    "calc-fix-Dec06-0900",
    "web-a-Dec01-0800",
]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("calc-day1-Dec06-1400", ["calc-day1-Dec06-1400"]),  # an id names itself, never more
        ("calc-f", ["calc-fix-Dec06-0900"]),
        ("calc-day1", ["calc-day1-Dec06-1400", "calc-day1-Dec06-1400-2"]),
        ("w", ["web-a-Dec01-0800"]),
        ("day1", []),  # a prefix, not a substring
        ("", []),
        ("calc-day1-Dec06-14000", []),
        ("calc-f\u2026", ["calc-fix-Dec06-0900"]),  # as a table shows it shortened
        ("\u2026", []),
    ],
)
def test_ids_named_by_prefix(text: str, named: list[str]) -> None:
    assert ids_named(text, KNOWN) == named


@pytest.mark.parametrize(
    ("run_id", "short"),
    [
        ("calc-fix-Dec06-0900", "calc-fix\u2026"),  # never shorter than config and tag
        ("web-a-Dec01-0800", "web-a\u2026"),
        # Shorter would name both: as long as names it alone, or whole.
        ("calc-day1-Dec06-1400", "calc-day1-Dec06-1400"),
        ("calc-day1-Dec06-1400-2", "calc-day1-Dec06-1400-2"),
        ("calc-day1-Dec06-1401", "calc-day1-Dec06-1401"),
        ("calc-day2-Dec06-1400", "calc-day2\u2026"),
        ("made-by-hand", "made-by-hand"),  # no time: nothing known to leave out
    ],
)
def test_a_short_run_id_is_the_shortest_that_names_it_alone(run_id: str, short: str) -> None:
    known = {*KNOWN, run_id, "calc-day1-Dec06-1402"}
    assert short_run_id(run_id, known) == short
    assert ids_named(short, known) == [run_id]


@pytest.mark.parametrize(
    ("text", "like"),
    [
        ("calc-day1-06", ["calc-day1-Dec06-1400", "calc-day1-Dec06-1400-2"]),
        ("fix-0900", ["calc-fix-Dec06-0900"]),
        ("web-a-Dec01-080", ["web-a-Dec01-0800"]),  # parts held
        ("wbe-a-Dec01-0800", ["web-a-Dec01-0800"]),  # a typo: the closest spelling
        ("zzz", []),
    ],
)
def test_ids_like_finds_what_a_mistyped_id_meant(text: str, like: list[str]) -> None:
    assert ids_like(text, KNOWN) == like
