"""A read of a clone brings only what its new tips reach and the host lacks, and the
clone's packs and indexes, read for that, are trusted for nothing."""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from scad.code import _objects, _reachable
from scad.code.borrowed import borrowed_store
from scad.code.clones import unfetched_run_work
from scad.errors import UnreadableClone
from scad.home import Home
from scad.runs.records import RunPaths
from tests.unit.planted_nodes import NODES, Opens, PlantNode
from tests.unit.test_borrowed import (
    BRANCH,
    agent_git,
    borrowing_clone,
    has_object,
    host_git,
    outside_repo,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


def grow_history(repo: Path, commits: int = 20, size: int = 20_000) -> None:
    """Host history of incompressible files: what a whole pack of the clone weighs."""
    rng = random.Random(24)
    for n in range(commits):
        (repo / f"history{n % 5}.bin").write_bytes(rng.randbytes(size))
        host_git(repo, "add", "-A")
        host_git(repo, "commit", "-q", "-m", f"history {n}")


def store(home: Home) -> Path:
    return RunPaths(home, "r").store("code")


def pack_bytes(objects: Path) -> int:
    return sum(p.stat().st_size for p in (objects / "pack").glob("*.pack"))


def agent_work(home: Home, repo: Path, clone: Path) -> dict[str, str]:
    """The agent's commit of two files, then everything repacked into one pack (its
    borrowed history included): the files' contents by their object ids."""
    # Of one length: swapped in a forged index, each passes for the other in size.
    files = {"a.txt": "the agent's first file\n", "b.txt": "the agent's other file\n"}
    for name, text in files.items():
        (clone / name).write_text(text)
    agent_git(home, repo, clone, "add", *files)
    agent_git(home, repo, clone, "commit", "-q", "-m", "agent work")
    agent_git(home, repo, clone, "repack", "-a", "-d", "-q")
    return {
        agent_git(home, repo, clone, "rev-parse", f"HEAD:{n}").strip(): t for n, t in files.items()
    }


async def read(home: Home, repo: Path) -> int:
    lender = borrowed_store(home, repo)
    return (
        await unfetched_run_work(RunPaths(home, "r"), "code", repo, BRANCH, lender=lender)
    ).total


#: The one file the agent commits in :func:`clone_with_a_commit`.
AGENT_FILE = "the agent's file\n"


async def clone_with_a_commit(home: Home, repo: Path) -> Path:
    """A borrowing clone whose agent committed one file, ``a.txt`` (its objects loose)."""
    clone = await borrowing_clone(home, repo)
    (clone / "a.txt").write_text(AGENT_FILE)
    agent_git(home, repo, clone, "add", "a.txt")
    agent_git(home, repo, clone, "commit", "-q", "-m", "agent work")
    return clone


def assert_file_read(home: Home, repo: Path, clone: Path) -> None:
    """The store holds the agent's file as the clone's last commit has it."""
    blob = agent_git(home, repo, clone, "rev-parse", "HEAD:a.txt").strip()
    assert_whole(home, {blob: AGENT_FILE})


def assert_whole(home: Home, blobs: dict[str, str]) -> None:
    """The store holds the agent's work, each object as itself, and all it reaches."""
    git_dir = str(store(home))
    for oid, text in blobs.items():
        shown = subprocess.run(
            ["git", "--git-dir", git_dir, "cat-file", "blob", oid],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        assert shown.stdout == text
    fsck = subprocess.run(
        ["git", "--git-dir", git_dir, "fsck", "--connectivity-only", "--no-dangling"],
        check=False, capture_output=True,
    )  # fmt: skip
    assert fsck.returncode == 0, fsck.stderr


def scratch_left(home: Home) -> list[str]:
    return [p.name for p in store(home).iterdir() if p.name.startswith("scratch-")]


async def test_the_first_read_after_a_repack_copies_the_agents_objects_only(
    home: Home, repo: Path
) -> None:
    grow_history(repo)
    clone = await borrowing_clone(home, repo)
    blobs = agent_work(home, repo, clone)
    whole = pack_bytes(clone / ".git" / "objects")
    assert whole > 300_000  # the host's history came along into the clone's pack

    assert await read(home, repo) == 1
    assert pack_bytes(store(home) / "objects") < 10_000
    assert_whole(home, blobs)
    assert scratch_left(home) == []


async def test_a_read_with_no_new_tip_looks_at_no_object(home: Home, repo: Path) -> None:
    clone = await borrowing_clone(home, repo)
    agent_work(home, repo, clone)
    assert await read(home, repo) == 1
    junk = clone / ".git" / "objects" / "ab" / ("c" * 38)  # not an object: read, it fails
    junk.parent.mkdir(exist_ok=True)
    junk.write_bytes(b"not zlib")
    assert await read(home, repo) == 1


async def test_a_read_that_failed_half_way_is_not_taken_for_one_that_finished(
    home: Home, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent's new commit is loose, the files it adds are packed: a read that
    copied the commit and then failed leaves it in the store without them."""
    clone = await borrowing_clone(home, repo)
    blobs = agent_work(home, repo, clone)
    agent_git(home, repo, clone, "commit", "-q", "--allow-empty", "-m", "loose on top")
    shutil.rmtree(clone / ".git" / "logs")  # no reflog names the packed commit

    def fail(*args: object) -> None:
        raise UnreadableClone("code", "cut short")

    monkeypatch.setattr(_reachable, "bring_reachable", fail)
    with pytest.raises(UnreadableClone, match="cut short"):
        await read(home, repo)
    monkeypatch.undo()
    assert await read(home, repo) == 2
    assert_whole(home, blobs)


def _idx_tables(data: bytearray) -> tuple[int, int, int]:
    """The object count of a version-2 ``.idx`` and where its id and offset tables start."""
    count = struct.unpack_from(">I", data, 8 + 255 * 4)[0]
    ids = 8 + 256 * 4
    return count, ids, ids + 24 * count


def offsets_anywhere(data: bytearray, blobs: list[str]) -> None:
    count, _, offsets = _idx_tables(data)
    for n in range(count):
        struct.pack_into(">I", data, offsets + 4 * n, 0x7FFF0000 - n)


def a_huge_count(data: bytearray, blobs: list[str]) -> None:
    for n in range(128, 256):
        struct.pack_into(">I", data, 8 + 4 * n, 0xFFFFFFF0)


def swapped_objects(data: bytearray, blobs: list[str]) -> None:
    """The agent's two files found each at the other's place."""
    count, ids, offsets = _idx_tables(data)
    table = [bytes(data[ids + 20 * n : ids + 20 * n + 20]).hex() for n in range(count)]
    first, second = (offsets + 4 * table.index(oid) for oid in blobs)
    data[first : first + 4], data[second : second + 4] = (
        data[second : second + 4],
        data[first : first + 4],
    )


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(offsets_anywhere, id="offsets-anywhere"),
        pytest.param(a_huge_count, id="huge-count"),
        pytest.param(swapped_objects, id="swapped-objects"),
    ],
)
async def test_a_forged_index_costs_a_whole_read_never_a_wrong_one(
    home: Home, repo: Path, forge: Callable[[bytearray, list[str]], None]
) -> None:
    clone = await borrowing_clone(home, repo)
    blobs = agent_work(home, repo, clone)
    (idx,) = (clone / ".git" / "objects" / "pack").glob("*.idx")
    data = bytearray(idx.read_bytes())
    forge(data, sorted(blobs))
    idx.chmod(0o644)
    idx.write_bytes(bytes(data))

    assert await read(home, repo) == 1
    assert_whole(home, blobs)
    assert scratch_left(home) == []


async def test_a_pack_with_no_index_is_read_whole(home: Home, repo: Path) -> None:
    clone = await borrowing_clone(home, repo)
    blobs = agent_work(home, repo, clone)
    (idx,) = (clone / ".git" / "objects" / "pack").glob("*.idx")
    idx.unlink()
    assert await read(home, repo) == 1
    assert_whole(home, blobs)


@pytest.mark.parametrize("what", ["pack", "idx"])
async def test_a_link_planted_for_a_pack_file_is_not_followed(
    home: Home, repo: Path, tmp_path: Path, what: str
) -> None:
    """The clone's pack or index is a link (to a FIFO: followed, git would hang):
    scad opens neither, and reads the rest as it can."""
    clone = await borrowing_clone(home, repo)
    agent_work(home, repo, clone)
    (planted,) = (clone / ".git" / "objects" / "pack").glob(f"*.{what}")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    planted.unlink()
    planted.symlink_to(fifo)
    if what == "pack":  # the work is in no pack scad will read
        with pytest.raises(UnreadableClone, match="not among the objects scad could read"):
            await read(home, repo)
    else:
        assert await read(home, repo) == 1
    assert scratch_left(home) == []


def _link_to_outside(path: Path) -> Path:
    path.symlink_to(path.parent.parent)
    return path


@pytest.mark.parametrize(
    ("swap_in", "problem"),
    [
        pytest.param(_link_to_outside, "is a symbolic link; not followed", id="link"),
        *[
            pytest.param(*node.values, "is not a regular file", id=node.id, marks=node.marks)
            for node in NODES
        ],
    ],
)
async def test_a_pack_swapped_while_read_is_refused_unopened(
    home: Home,
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    swap_in: PlantNode,
    problem: str,
) -> None:
    clone = await borrowing_clone(home, repo)
    agent_work(home, repo, clone)
    (idx,) = (clone / ".git" / "objects" / "pack").glob("*.idx")
    listed = _objects.agentfs.list_dir
    opened: list[Opens] = []

    def list_then_swap(folder: int, **kwargs: object) -> list[tuple[str, int]]:
        names = listed(folder, **kwargs)  # type: ignore[arg-type]
        if kwargs.get("label") == ".git/objects/pack":
            idx.unlink()
            opened.append(Opens(swap_in(idx), monkeypatch))
        return names

    monkeypatch.setattr(_objects.agentfs, "list_dir", list_then_swap)
    with pytest.raises(UnreadableClone) as refused:
        await read(home, repo)
    (opens,) = opened
    assert opens.flags and opens.for_io == []
    assert str(refused.value).endswith(f"{idx.name} {problem}")


@pytest.mark.parametrize("change", ["truncated", "grown"])
async def test_a_pack_changed_while_git_reads_it_leaves_nothing_behind(
    home: Home, repo: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """The agent cuts or extends its pack after scad opened it: git sees the change
    (the same file), the read fails or brings what verifies, and no half-written
    file of scad's is left in the store."""
    grow_history(repo, commits=5)
    clone = await borrowing_clone(home, repo)
    blobs = agent_work(home, repo, clone)
    (pack,) = (clone / ".git" / "objects" / "pack").glob("*.pack")
    bring = _reachable.bring_reachable

    def change_then_bring(*args: object) -> None:
        pack.chmod(0o644)
        with pack.open("r+b") as f:
            if change == "truncated":
                f.truncate(pack.stat().st_size // 2)
            else:
                f.seek(0, os.SEEK_END)
                f.write(os.urandom(100_000))
        bring(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_reachable, "bring_reachable", change_then_bring)
    try:
        assert await read(home, repo) == 1
        assert_whole(home, blobs)
    except UnreadableClone as exc:
        assert "does not verify" in str(exc)
    left = [p.name for p in (store(home) / "objects" / "pack").iterdir()]
    assert [n for n in left if n.startswith("tmp_")] == []
    assert scratch_left(home) == []


async def test_new_work_past_the_bytes_left_to_a_read_is_refused(
    home: Home, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = await borrowing_clone(home, repo)
    (clone / "big.bin").write_bytes(random.Random(1).randbytes(200_000))
    agent_git(home, repo, clone, "add", "big.bin")
    agent_git(home, repo, clone, "commit", "-q", "-m", "big")
    agent_git(home, repo, clone, "repack", "-a", "-d", "-q")
    monkeypatch.setattr(_objects, "COPY_BUDGET", 100_000)
    with pytest.raises(UnreadableClone, match="past the 100000-byte bound"):
        await read(home, repo)
    left = [p.name for p in (store(home) / "objects" / "pack").iterdir()]
    assert [n for n in left if n.startswith("tmp_")] == []


async def test_the_clones_alternates_name_nothing_git_reads(
    home: Home, repo: Path, tmp_path: Path
) -> None:
    """The agent's commit sits on a commit only another host repo holds, and its
    alternates name that repo: scad's git never looks there."""
    outside, secret = outside_repo(tmp_path / "outside")
    clone = await borrowing_clone(home, repo)
    alternates = clone / ".git" / "objects" / "info" / "alternates"
    alternates.write_text(f"{outside / '.git' / 'objects'}\n{alternates.read_text()}")
    agent_git(home, repo, clone, "reset", "-q", "--soft", secret)
    agent_git(home, repo, clone, "commit", "-q", "--allow-empty", "-m", "on the secret")
    agent_git(home, repo, clone, "repack", "-a", "-d", "-l", "-q")  # the secret stays outside

    with pytest.raises(UnreadableClone):
        await read(home, repo)
    assert not has_object(store(home), secret)
    assert "outside" not in (store(home) / "objects" / "info" / "alternates").read_text()
    assert scratch_left(home) == []


async def test_a_tip_whose_objects_are_missing_is_read_again_once_they_are_there(
    home: Home, repo: Path, tmp_path: Path
) -> None:
    """A commit whose tree the clone lacks is not written down as read: once the
    tree is back, the next read brings it."""
    clone = await clone_with_a_commit(home, repo)
    tree = agent_git(home, repo, clone, "rev-parse", "HEAD^{tree}").strip()
    loose = clone / ".git" / "objects" / tree[:2] / tree[2:]
    loose.rename(tmp_path / "tree")
    assert await read(home, repo) == 1  # its commits can be counted
    assert not has_object(store(home), tree)
    (tmp_path / "tree").rename(loose)
    assert await read(home, repo) == 1
    assert_file_read(home, repo, clone)


async def test_a_tip_read_half_way_is_no_lent_tip_once_its_objects_come_packed(
    home: Home, repo: Path, tmp_path: Path
) -> None:
    """The store's refs are the clone's as last read, whole or not: a commit whose
    tree was missing then, and comes packed now, is read for what it reaches."""
    clone = await clone_with_a_commit(home, repo)
    tree = agent_git(home, repo, clone, "rev-parse", "HEAD^{tree}").strip()
    loose = clone / ".git" / "objects" / tree[:2] / tree[2:]
    loose.rename(tmp_path / "tree")
    assert await read(home, repo) == 1
    (tmp_path / "tree").rename(loose)
    agent_git(home, repo, clone, "repack", "-a", "-d", "-q")  # the tree, loose no more
    assert await read(home, repo) == 1
    assert_file_read(home, repo, clone)


async def test_a_tip_the_clone_lacked_when_read_is_read_once_it_is_there(
    home: Home, repo: Path, tmp_path: Path
) -> None:
    """A read that finds a branch's commit nowhere does not write it down as read:
    once the commit is back, the next read brings it."""
    clone = await clone_with_a_commit(home, repo)
    away = tmp_path / "away"
    shutil.copytree(clone / ".git" / "objects", away)
    for fanout in (clone / ".git" / "objects").glob("??"):
        shutil.rmtree(fanout)
    with pytest.raises(UnreadableClone):
        await read(home, repo)
    shutil.copytree(away, clone / ".git" / "objects", dirs_exist_ok=True)
    assert await read(home, repo) == 1
    assert_file_read(home, repo, clone)
