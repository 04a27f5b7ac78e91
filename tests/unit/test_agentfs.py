"""Reading and writing in an agent's folders: no link followed, nothing blocks, bounds hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scad import agentfs
from scad.errors import AgentFileError, AgentFileMissing


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An agent's folder, with a file outside it that must stay untouched."""
    (tmp_path / "agent").mkdir()
    (tmp_path / "outside").write_text("host secret\n")
    return tmp_path / "agent"


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        pytest.param(lambda p, o: p.symlink_to(o), "is a symbolic link; not followed", id="link"),
        pytest.param(lambda p, o: os.mkfifo(p), "is not a regular file", id="fifo"),
        pytest.param(lambda p, o: p.mkdir(), "is not a regular file", id="folder"),
        pytest.param(lambda p, o: None, "does not exist", id="missing"),
        pytest.param(
            lambda p, o: os.truncate(os.open(p, os.O_CREAT | os.O_WRONLY), 1 << 30) or None,
            f"is {1 << 30} bytes, over the 4096-byte bound",
            id="sparse-gigabyte",
        ),
    ],
)
def test_reads_refuse_what_is_not_a_small_regular_file(
    folder: Path, make: object, problem: str
) -> None:
    entry = folder / "f"
    make(entry, folder.parent / "outside")  # type: ignore[operator]
    with pytest.raises(AgentFileError) as raised:
        agentfs.read_file(entry, limit=4096)
    assert raised.value.problem == problem
    assert str(raised.value) == f"{entry} {problem}"


def test_a_regular_file_is_read_whole(folder: Path) -> None:
    (folder / "f").write_bytes(b"x" * 4096)
    assert agentfs.read_file(folder / "f", limit=4096) == b"x" * 4096


def test_a_link_anywhere_below_the_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere" / "deep").mkdir(parents=True)
    (folder / "a").symlink_to(tmp_path / "elsewhere")
    refused = pytest.raises(AgentFileError, match="is a symbolic link; not followed")
    with agentfs.open_folder(folder) as fd, refused, agentfs.open_folder("a/deep", dir_fd=fd):
        pass
    with refused, agentfs.open_folder(folder / "a"):
        pass


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p, o: p.symlink_to(o), id="link-to-outside"),
        pytest.param(lambda p, o: os.mkfifo(p), id="fifo"),
        pytest.param(lambda p, o: p.write_text("old"), id="file"),
    ],
)
def test_replace_puts_a_new_file_in_place_of_whatever_was_there(
    folder: Path, tmp_path: Path, make: object
) -> None:
    outside = tmp_path / "outside"

    def identity(path: Path) -> tuple[int, ...]:
        # Not the whole stat: reading the file may update its access time.
        info = path.stat()
        return info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode, info.st_uid

    before = identity(outside)
    make(folder / "f", outside)  # type: ignore[operator]
    assert agentfs.replace_file(folder / "f", b"new", staging=tmp_path, mode=0o600) is None
    assert (folder / "f").read_bytes() == b"new" and not (folder / "f").is_symlink()
    assert (folder / "f").stat().st_mode & 0o777 == 0o600
    assert outside.read_text() == "host secret\n" and identity(outside) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".scad-tmp")] == []


def test_replace_moves_a_folder_aside_and_keeps_it(folder: Path, tmp_path: Path) -> None:
    (folder / "f" / "inner").mkdir(parents=True)
    aside = agentfs.replace_file(folder / "f", b"new", staging=tmp_path)
    assert aside is not None and (folder / aside / "inner").is_dir()
    assert (folder / "f").read_bytes() == b"new"


def test_replace_into_a_linked_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (folder / "sub").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(AgentFileError, match="is a symbolic link"):
        agentfs.replace_file(folder / "sub" / "f", b"new", staging=tmp_path)
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".scad-tmp")] == []


@pytest.mark.skipif(os.getuid() != 0, reason="only root can give files to another user")
def test_replace_gives_the_new_file_and_nothing_else_to_the_owner(
    folder: Path, tmp_path: Path
) -> None:
    (folder / "f").symlink_to(tmp_path / "outside")
    agentfs.replace_file(folder / "f", b"new", staging=tmp_path, owner=(1000, 1000))
    assert (folder / "f").lstat().st_uid == 1000
    assert (tmp_path / "outside").stat().st_uid == 0


def test_what_is_not_there_is_said_by_its_kind(folder: Path) -> None:
    """Callers tell "not there yet" from a refusal by the error's type, not its words."""
    with pytest.raises(AgentFileMissing):
        agentfs.read_file(folder / "absent", limit=10)
    with pytest.raises(AgentFileMissing), agentfs.open_folder(folder / "absent"):
        pass
    with agentfs.open_folder(folder) as fd, pytest.raises(AgentFileMissing):
        agentfs.read_file_at(fd, "absent", limit=10)
    (folder / "link").symlink_to(folder / "absent")
    with pytest.raises(AgentFileError) as refused:
        agentfs.read_file(folder / "link", limit=10)
    assert not isinstance(refused.value, AgentFileMissing)
