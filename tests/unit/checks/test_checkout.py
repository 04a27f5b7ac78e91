"""A check's checkout: written by git from a repository scad owns, pins from the base."""

from __future__ import annotations

import os
import subprocess
import tracemalloc
from pathlib import Path

import pytest

from scad.checks.checkout import CheckoutRefused, write_checkout
from tests.conftest import make_repo

pytestmark = pytest.mark.anyio


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


async def test_a_pinned_folder_the_commit_made_a_link_to_a_host_folder_is_the_base_s(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {"tests/test_a.py": "base\n", "calc.py": "a\n"})
    base = git(repo, "rev-parse", "HEAD")
    host = tmp_path / "host"
    host.mkdir()
    git(repo, "rm", "-rq", "tests")
    os.symlink(host, repo / "tests")
    (repo / "calc.py").write_text("b\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "agent")
    judged = git(repo, "rev-parse", "HEAD")
    dest = tmp_path / "checkout"

    changed = await write_checkout(repo, judged, base, ["tests/"], dest)

    assert changed == ["tests/"]
    assert not (dest / "tests").is_symlink()
    assert (dest / "tests" / "test_a.py").read_text() == "base\n"
    assert (dest / "calc.py").read_text() == "b\n"
    assert list(host.iterdir()) == []
    assert not (dest / ".git").exists()


async def test_without_pins_the_commit_is_checked_out_as_it_is(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"tests/test_a.py": "base\n"})
    os.symlink("/etc/hostname", repo / "leak")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "agent")
    dest = tmp_path / "checkout"
    assert await write_checkout(repo, git(repo, "rev-parse", "HEAD"), None, ["tests"], dest) == []
    assert os.readlink(dest / "leak") == "/etc/hostname"  # a link, for the container to see


async def test_a_file_whose_name_is_not_utf8_is_checked_out_under_its_own_name(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {"tests/test_a.py": "base\n"})
    base = git(repo, "rev-parse", "HEAD")
    name = b"caf\xe9 \xff.txt"
    (repo / "tests" / os.fsdecode(name)).write_text("latin-1\n")
    (repo / os.fsdecode(name)).write_text("top\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "agent")
    dest = tmp_path / "checkout"

    changed = await write_checkout(repo, git(repo, "rev-parse", "HEAD"), base, ["tests"], dest)

    assert changed == ["tests"]
    assert sorted(os.listdir(bytes(dest))) == [name, b"tests"]
    assert (dest / os.fsdecode(name)).read_text() == "top\n"
    assert os.listdir(bytes(dest / "tests")) == [b"test_a.py"]  # pinned to the base


def _tree_bomb(repo: Path, width: int) -> str:
    """A commit of ``width`` ** 2 files in a few hundred bytes of objects: a tree of
    ``width`` folders, each the same tree of ``width`` copies of one blob."""

    def run(*args: str, data: bytes) -> str:
        return (
            subprocess.run(
                ["git", "--git-dir", str(repo), *args], input=data, capture_output=True, check=True
            )
            .stdout.decode()
            .strip()
        )

    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    blob = run("hash-object", "-w", "--stdin", data=b"x")
    leaf = run("mktree", "-z", data=b"".join(
        f"100644 blob {blob}\t{i:04d}\0".encode() for i in range(width)
    ))  # fmt: skip
    top = run("mktree", "-z", data=b"".join(
        f"040000 tree {leaf}\t{i:04d}\0".encode() for i in range(width)
    ))  # fmt: skip
    return run("-c", "user.name=t", "-c", "user.email=t@t", "commit-tree", top, "-m", "x", data=b"")


async def test_a_tree_naming_a_million_files_is_refused_without_reading_its_whole_listing(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "store"
    bomb = _tree_bomb(repo, 1000)  # a million files; a third level would be a billion
    tracemalloc.start()
    try:
        with pytest.raises(CheckoutRefused, match="more files"):
            await write_checkout(repo, bomb, None, [], tmp_path / "checkout")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Its listing alone is 70 MB (a third level would make it 90 GB), and parsed it
    # takes ten times that.
    assert peak < 128 << 20
    assert not (tmp_path / "checkout").exists()
