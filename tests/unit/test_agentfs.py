"""Reading and writing in an agent's folders: no link followed, nothing blocks, bounds hold."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scad import agentfs
from scad.errors import AgentFileError, AgentFileMissing

from .planted_nodes import NODES, Opens, PlantNode

Reader = Callable[[Path], bytes]


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


READERS = [
    pytest.param(lambda entry: agentfs.read_file(entry, limit=4096), id="read_file"),
    pytest.param(
        lambda entry: _at(entry, lambda folder: agentfs.read_file_at(folder, "f", limit=4096)),
        id="read_file_at",
    ),
    pytest.param(
        lambda entry: _at(entry, lambda folder: _read_opened(folder, "f")), id="open_regular_at"
    ),
]


def _at(entry: Path, read: Callable[[int], bytes]) -> bytes:
    with agentfs.open_folder(entry.parent) as folder:
        return read(folder)


def _read_opened(folder: int, name: str) -> bytes:
    with agentfs.open_regular_at(folder, name, limit=4096) as fd:
        return os.read(fd, 4096)


@pytest.mark.parametrize("plant", NODES)
@pytest.mark.parametrize("read", READERS)
def test_a_planted_node_is_refused_and_never_opened(
    folder: Path, monkeypatch: pytest.MonkeyPatch, plant: PlantNode, read: Reader
) -> None:
    entry = plant(folder / "f")
    opens = Opens(entry, monkeypatch)
    with pytest.raises(AgentFileError) as raised:
        read(entry)
    assert raised.value.path in (str(entry), "f")  # read_file names the whole path
    assert str(raised.value) == f"{raised.value.path} is not a regular file"
    assert opens.flags and opens.for_io == []


@pytest.mark.parametrize("plant", NODES)
def test_a_planted_node_is_not_a_folder_and_never_opened(
    folder: Path, monkeypatch: pytest.MonkeyPatch, plant: PlantNode
) -> None:
    entry = plant(folder / "f")
    opens = Opens(entry, monkeypatch)
    for name in ("f", "f/x"):
        with (
            agentfs.open_folder(folder) as fd,
            pytest.raises(AgentFileError) as refused,
            agentfs.open_folder(name, dir_fd=fd),
        ):
            pass
        assert str(refused.value) == f"{name} is not a folder"
    assert opens.for_io == []


def test_a_regular_file_is_looked_at_before_it_is_opened_for_reading(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "f").write_bytes(b"agent's bytes")
    opens = Opens(folder / "f", monkeypatch)
    assert agentfs.read_file(folder / "f", limit=4096) == b"agent's bytes"
    assert opens.flags == [
        os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC,
        os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC,
    ]


def test_an_opened_file_is_the_regular_file_that_was_looked_at(folder: Path) -> None:
    (folder / "f").write_bytes(b"agent's bytes")
    with agentfs.open_folder(folder) as fd, agentfs.open_regular_at(fd, "f", limit=100) as file:
        assert os.fstat(file).st_ino == (folder / "f").stat().st_ino
        assert os.read(file, 100) == b"agent's bytes"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p, o: p.symlink_to(o), id="link"),
        pytest.param(lambda p, o: p.write_bytes(b"x" * 101), id="over-the-bound"),
        pytest.param(lambda p, o: p.mkdir(), id="folder"),
    ],
)
def test_open_regular_refuses_what_read_file_refuses(folder: Path, make: object) -> None:
    make(folder / "f", folder.parent / "outside")  # type: ignore[operator]
    with pytest.raises(AgentFileError) as refused:
        agentfs.read_file(folder / "f", limit=100)
    with (
        agentfs.open_folder(folder) as fd,
        pytest.raises(AgentFileError) as opened,
        agentfs.open_regular_at(fd, "f", limit=100),
    ):
        pass
    assert opened.value.problem == refused.value.problem


SWAPS = [
    pytest.param(lambda p: p.write_text("host secret\n") or p, id="other-file"),
    *NODES,
]


@pytest.mark.parametrize("swap_in", SWAPS)
def test_an_entry_swapped_after_it_was_looked_at_is_not_what_is_read(
    folder: Path, monkeypatch: pytest.MonkeyPatch, swap_in: PlantNode
) -> None:
    """The entry is replaced between its ``O_PATH`` open and the open for reading:
    what is read is still the file that was looked at, through its descriptor."""
    (folder / "f").write_bytes(b"agent's bytes")
    planted = folder.parent / "planted"
    swap_in(planted)
    planted_ino = planted.lstat().st_ino
    opens = Opens(planted, monkeypatch)
    real_open, swapped = os.open, []

    def swap_after_looking(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        fd = real_open(file, flags, *args, **kwargs)
        if file == "f" and flags & os.O_PATH:
            os.rename(planted, folder / "f")
            swapped.append(file)
        return fd

    monkeypatch.setattr(os, "open", swap_after_looking)
    assert agentfs.read_file(folder / "f", limit=4096) == b"agent's bytes"
    assert swapped == ["f"] and opens.for_io == []
    assert (folder / "f").lstat().st_ino == planted_ino


def test_a_reopen_that_reaches_another_inode_is_refused(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should ``/proc/self/fd`` ever name another inode, nothing of it is read."""
    (folder / "f").write_bytes(b"agent's bytes")
    (folder.parent / "other").write_text("host secret\n")
    real_open = os.open

    def reopen_elsewhere(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(file).startswith("/proc/self/fd/"):
            file = folder.parent / "other"
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", reopen_elsewhere)
    with agentfs.open_folder(folder) as fd, pytest.raises(AgentFileError) as refused:
        agentfs.read_file_at(fd, "f", limit=100)
    assert str(refused.value) == "f changed while it was opened"


def test_a_file_that_cannot_be_reopened_is_refused_in_one_line(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mode of 000 stops a user that is not root only at the open for reading."""
    (folder / "f").write_bytes(b"agent's bytes")
    real_open = os.open

    def unreadable(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(file).startswith("/proc/self/fd/"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), file)
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", unreadable)
    with agentfs.open_folder(folder) as fd, pytest.raises(AgentFileError) as refused:
        agentfs.read_file_at(fd, "f", limit=100)
    assert str(refused.value) == "f Permission denied"
