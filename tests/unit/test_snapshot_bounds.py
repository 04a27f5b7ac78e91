"""What reading a clone may cost: packs that do not verify leave nothing behind,
git gets only the bytes that were checked, and inflating and indexing are bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scad.code import _objects
from scad.code.clones import unfetched_work
from scad.errors import UnreadableClone
from tests.unit.test_clones import agent_git, commit, store_of

pytestmark = pytest.mark.anyio


def pack_dir(clone: Path) -> Path:
    return clone / ".git" / "objects" / "pack"


async def test_a_pack_that_does_not_verify_leaves_nothing_in_the_store(
    clone: Path, repo: Path
) -> None:
    for n in range(3):
        commit(clone, f"work {n}")
    agent_git(clone, "repack", "-a", "-d", "-q")
    (pack,) = pack_dir(clone).glob("*.pack")
    data = bytearray(pack.read_bytes())
    data[-1] ^= 0xFF  # the trailing checksum no longer matches
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    for _ in range(2):  # every read fails alike, and none leaves a copy behind
        with pytest.raises(UnreadableClone, match="does not verify"):
            await unfetched_work(clone, store_of(clone), repo)
        left = sorted(p.name for p in (store_of(clone) / "objects" / "pack").iterdir())
        assert [name for name in left if name.startswith("tmp_")] == []


def test_git_is_fed_exactly_the_bytes_that_were_checked(tmp_path: Path) -> None:
    path = tmp_path / "growing"
    path.write_bytes(b"x" * 100_000)
    fd = os.open(path, os.O_RDONLY)
    try:
        with path.open("ab") as grower:
            grower.write(b"y" * 50_000)  # grown after its size was taken
        result = _objects._feed(["wc", "-c"], fd, 100_000)
    finally:
        os.close(fd)
    assert (result.returncode, result.stdout.strip()) == (0, b"100000")


async def test_inflating_loose_objects_is_bounded_per_read(
    clone: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        (clone / f"big{n}.txt").write_text(f"{n}" * 50_000)
        agent_git(clone, "add", f"big{n}.txt")
        agent_git(clone, "commit", "-q", "-m", f"big {n}")
    monkeypatch.setattr(_objects, "INFLATE_BUDGET", 120_000)
    with pytest.raises(UnreadableClone, match="past the 120000-byte bound on inflating"):
        await unfetched_work(clone, store_of(clone), repo)
    monkeypatch.setattr(_objects, "INFLATE_BUDGET", 1 << 30)
    assert (await unfetched_work(clone, store_of(clone), repo)).total == 5


async def test_the_packs_indexed_in_one_read_are_counted(
    clone: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        commit(clone, f"work {n}")
        agent_git(clone, "repack", "-q")  # one new pack each time
    assert len(list(pack_dir(clone).glob("*.pack"))) == 3
    monkeypatch.setattr(_objects, "MAX_NEW_PACKS", 2)
    with pytest.raises(UnreadableClone, match="past the 2 new packs read at once"):
        await unfetched_work(clone, store_of(clone), repo)


@pytest.mark.parametrize(
    ("folder", "bound", "message"),
    [
        pytest.param(
            "objects/ab",
            "MAX_OBJECT_ENTRIES",
            r"\.git/objects/ab is past the 1000 entries",
            id="objects",
        ),
        pytest.param(
            "objects/pack", "MAX_OBJECT_ENTRIES", r"\.git/objects/pack is past the 1000", id="packs"
        ),
        pytest.param(
            "refs/heads/many",
            "MAX_ENTRIES",
            r"refs/heads/many/ holds more than 1000",
            id="branches",
        ),
        pytest.param(
            "refs/tags", "MAX_ENTRIES", r"\.git/refs/tags holds more than 1000", id="tags"
        ),
        pytest.param(
            "logs/refs/heads", "MAX_ENTRIES", r"\.git/logs/refs/heads holds more", id="reflogs"
        ),
    ],
)
async def test_a_folder_the_agent_filled_is_not_listed_past_a_count(
    clone: Path, repo: Path, monkeypatch: pytest.MonkeyPatch, folder: str, bound: str, message: str
) -> None:
    from scad import agentfs

    monkeypatch.setattr(_objects if bound == "MAX_OBJECT_ENTRIES" else agentfs, bound, 1000)
    commit(clone, "work")  # objects are looked at only for a tip the store lacks
    filled = clone / ".git" / folder
    filled.mkdir(parents=True, exist_ok=True)
    for n in range(1500):
        (filled / f"junk{n}").touch()
    with pytest.raises(UnreadableClone, match=message):
        await unfetched_work(clone, store_of(clone), repo)


async def test_refs_nested_past_the_depth_bound_are_not_walked(clone: Path, repo: Path) -> None:
    deep = clone / ".git" / "refs" / "keep" / "/".join(["d"] * 20)
    deep.mkdir(parents=True)
    with pytest.raises(UnreadableClone, match="nests too deep"):
        await unfetched_work(clone, store_of(clone), repo)
