"""Which files a check sees: the judged tree with pinned paths from the base's."""

from __future__ import annotations

import pytest

from scad.checks.pins import TreeEntry, changed_pins, parse_tree, pinned_tree, under


def blob(path: str, oid: str, mode: str = "100644") -> TreeEntry:
    return TreeEntry(mode, "blob", oid * 40, 1, path)


BASE = [blob("calc.py", "a"), blob("tests/test_calc.py", "b"), blob("tests/data/x", "c")]


def paths(tree: list[TreeEntry]) -> list[tuple[str, str]]:
    return [(e.path, e.oid[0]) for e in tree]


@pytest.mark.parametrize(
    ("path", "pin", "inside"),
    [
        pytest.param("tests/a.py", "tests/", True, id="folder"),
        pytest.param("tests", "tests/", True, id="the-folder-itself"),
        pytest.param("tests/a.py", "./tests", True, id="dot-slash"),
        pytest.param("tests2/a.py", "tests", False, id="a-longer-name"),
        pytest.param("src/tests/a.py", "tests", False, id="deeper"),
        pytest.param("calc.py", "calc.py", True, id="file"),
    ],
)
def test_under(path: str, pin: str, inside: bool) -> None:
    assert under(path, pin) is inside


def test_a_pinned_folder_is_the_base_s_whatever_the_commit_did_to_it() -> None:
    judged = [blob("calc.py", "d"), blob("tests/test_calc.py", "e"), blob("tests/new.py", "f")]
    assert paths(pinned_tree(judged, BASE, ["tests/"])) == [
        ("calc.py", "d"),
        ("tests/data/x", "c"),
        ("tests/test_calc.py", "b"),
    ]
    assert changed_pins(judged, BASE, ["tests/", "calc.py"]) == ["tests/", "calc.py"]


def test_a_link_where_the_base_has_a_folder_gives_way_to_the_folder() -> None:
    judged = [blob("calc.py", "a"), blob("tests", "9", mode="120000")]
    assert paths(pinned_tree(judged, BASE, ["tests"])) == [
        ("calc.py", "a"),
        ("tests/data/x", "c"),
        ("tests/test_calc.py", "b"),
    ]


def test_a_pinned_path_the_base_lacks_is_removed() -> None:
    judged = [*BASE, blob("conftest.py", "e")]
    assert paths(pinned_tree(judged, BASE, ["conftest.py"])) == sorted(paths(BASE))
    assert changed_pins(judged, BASE, ["conftest.py"]) == ["conftest.py"]


def test_unchanged_pins_are_not_named() -> None:
    judged = [blob("calc.py", "d"), *BASE[1:]]
    assert changed_pins(judged, BASE, ["tests/", "missing/"]) == []


def test_a_listing_is_read_with_its_sizes_and_odd_names() -> None:
    listing = (
        b"100644 blob " + b"a" * 40 + b"      12\ta b\tc.py\0"
        b"120000 blob " + b"b" * 40 + b"       5\tlink\0"
        b"160000 commit " + b"c" * 40 + b"       -\tsub\0"
    )
    assert parse_tree(listing) == [
        TreeEntry("100644", "blob", "a" * 40, 12, "a b\tc.py"),
        TreeEntry("120000", "blob", "b" * 40, 5, "link"),
        TreeEntry("160000", "commit", "c" * 40, 0, "sub"),
    ]
