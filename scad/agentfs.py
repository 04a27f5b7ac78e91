"""Reading and writing files in trees an agent can write, without trusting them.

A run's clones, ``claude/`` and ``claude.json`` belong to the agent: any entry
may be a symlink to a host file, a FIFO, a folder where a file belongs, or
gigabytes long. scad runs on the host, often as root, so here:

- every open is relative to a folder descriptor and never follows a link
  (``O_NOFOLLOW`` at each step), so a planted link names nothing outside the run;
- an entry is opened for reading only once it is known to be a regular file:
  first it is opened with ``O_PATH`` (which opens nothing: no device driver, no
  FIFO, no terminal is asked) and looked at, then that same inode is reopened
  through ``/proc/self/fd``, so an entry swapped meanwhile is not what is read.
  Folders are opened with ``O_DIRECTORY``, which the kernel refuses for anything
  else before any driver is asked;
- reads take regular files only, opened non-blocking, up to a size bound;
- writes go to a temporary file in a folder the agent cannot write (the run's
  own root), are given their owner with ``fchown``, then renamed over the
  destination: a link there is replaced, never written through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from .errors import AgentFileError, AgentFileMissing, TooManyEntries

#: What decoding an agent's JSON can raise besides msgspec's DecodeError: bytes that
#: are not UTF-8 inside strings, and nesting deep enough to exhaust the stack.
JSON_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)

__all__ = [
    "JSON_ERRORS",
    "MAX_ENTRIES",
    "list_dir",
    "open_folder",
    "open_regular_at",
    "read_file",
    "read_file_at",
    "replace_file",
]

#: Entries one folder an agent wrote may hold for scad to list it.
MAX_ENTRIES = 100_000

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: An entry looked at, not opened; with O_NOFOLLOW a link is the link itself.
_LOOK_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
#: The entry looked at, reopened for reading: no controlling terminal, no waiting.
_READ_FLAGS = os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC


def _refusal(name: str, exc: OSError) -> AgentFileError:
    if exc.errno == errno.ELOOP:
        return AgentFileError(name, "is a symbolic link; not followed")
    if exc.errno == errno.ENOTDIR:
        return AgentFileError(name, "is not a folder")
    if exc.errno == errno.ENOENT:
        return AgentFileMissing(name)
    return AgentFileError(name, exc.strerror or str(exc))


@contextmanager
def open_folder(path: Path | str, *, dir_fd: int | None = None) -> Iterator[int]:
    """A descriptor of folder ``path``; no component of it (below ``dir_fd``) may be a link.

    Without ``dir_fd``, ``path`` is absolute and its parents are scad's own
    (the run directory); only its last component is refused when a link.
    """
    parts = Path(path).parts if dir_fd is not None else (str(path),)
    fds: list[int] = []
    try:
        current = dir_fd
        for part in parts:
            try:
                current = os.open(part, _DIR_FLAGS, dir_fd=current)
            except OSError as exc:
                if exc.errno == errno.ENOTDIR and _is_link(part, current):
                    exc.errno = errno.ELOOP  # O_DIRECTORY speaks first for a link
                raise _refusal(str(path), exc) from None
            fds.append(current)
        assert current is not None
        yield current
    finally:
        for fd in fds:
            os.close(fd)


def _is_link(name: str, dir_fd: int | None) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def list_dir(
    dir_fd: int, *, label: str = "a folder", limit: int | None = None
) -> list[tuple[str, int]]:
    """Names in a folder with their file type (``stat.S_IF*``), links not followed.

    Raises TooManyEntries when it holds more than ``limit`` entries (``MAX_ENTRIES``
    by default): the agent decides how many there are, scad how many it looks at.
    """
    limit = MAX_ENTRIES if limit is None else limit
    entries: list[tuple[str, int]] = []
    with os.scandir(dir_fd) as scan:
        for entry in scan:
            if len(entries) >= limit:
                raise TooManyEntries(label, f"holds more than {limit} entries")
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue  # gone meanwhile
            entries.append((entry.name, stat.S_IFMT(mode)))
    return entries


@contextmanager
def open_regular_at(
    dir_fd: int, name: str, *, limit: int | None = None, label: str | None = None
) -> Iterator[int]:
    """A non-blocking descriptor for reading regular file ``name`` in folder
    ``dir_fd``, at most ``limit`` bytes long when it was opened.

    Raises AgentFileError (saying why) for a link, a FIFO, a folder, a device or a
    file over ``limit``: none of them is ever opened for reading.
    """
    fd = _open_regular(dir_fd, name, limit, label or name)
    try:
        yield fd
    finally:
        os.close(fd)


def _open_regular(dir_fd: int, name: str, limit: int | None, label: str) -> int:
    try:
        looked = os.open(name, _LOOK_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _refusal(label, exc) from None
    try:
        info = os.fstat(looked)
        _check_regular(info, label, limit)
        # The inode looked at, not the name: whatever is renamed there now is not read.
        fd = os.open(f"/proc/self/fd/{looked}", _READ_FLAGS)
    except OSError as exc:  # a file the agent made unreadable to this user, say
        raise _refusal(label, exc) from None
    finally:
        os.close(looked)
    try:
        reopened = os.fstat(fd)
        if (reopened.st_dev, reopened.st_ino) != (info.st_dev, info.st_ino):
            raise AgentFileError(label, "changed while it was opened")
        _check_regular(reopened, label, limit)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_regular(info: os.stat_result, label: str, limit: int | None) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise AgentFileError(label, "is a symbolic link; not followed")
    if not stat.S_ISREG(info.st_mode):
        raise AgentFileError(label, "is not a regular file")
    if limit is not None and info.st_size > limit:
        raise AgentFileError(label, f"is {info.st_size} bytes, over the {limit}-byte bound")


def read_file_at(dir_fd: int, name: str, *, limit: int, label: str | None = None) -> bytes:
    """The content of regular file ``name`` in folder ``dir_fd``, at most ``limit`` bytes.

    Raises AgentFileError (saying why) for a link, a FIFO, a folder, a device
    or a file over ``limit``; never blocks, never opens anything but a regular file.
    """
    label = label or name
    fd = _open_regular(dir_fd, name, limit, label)
    try:
        chunks, size = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise AgentFileError(label, f"grew past the {limit}-byte bound while read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_file(path: Path, *, limit: int) -> bytes:
    """:func:`read_file_at` for a file whose folder is scad's (a run's root or ``claude/``)."""
    with open_folder(path.parent) as folder:
        return read_file_at(folder, path.name, limit=limit, label=str(path))


def replace_file(
    path: Path,
    data: bytes,
    *,
    staging: Path,
    mode: int = 0o644,
    owner: tuple[int, int] | None = None,
) -> str | None:
    """Put ``data`` at ``path`` (in an agent's folder) as a new file, atomically.

    The file is made in ``staging`` (a folder of scad's on the same file
    system), chowned there and renamed over ``path``: whatever ``path`` was (a
    link, a FIFO) is replaced, not written through. A folder in the way is
    moved aside, not deleted; returns what was moved aside, if anything.
    """
    tmp = f".scad-tmp-{secrets.token_hex(8)}"
    with open_folder(staging) as stage_fd, open_folder(path.parent) as dest_fd:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=stage_fd
        )
        try:
            try:
                os.write(fd, data)
                os.fchmod(fd, mode)  # the umask does not get a say
                if owner is not None:
                    os.fchown(fd, *owner)
            finally:
                os.close(fd)
            moved_aside = None
            try:
                os.rename(tmp, path.name, src_dir_fd=stage_fd, dst_dir_fd=dest_fd)
            except OSError as exc:
                if exc.errno not in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                    raise
                moved_aside = f"{path.name}.scad-aside-{secrets.token_hex(4)}"
                os.rename(path.name, moved_aside, src_dir_fd=dest_fd, dst_dir_fd=dest_fd)
                os.rename(tmp, path.name, src_dir_fd=stage_fd, dst_dir_fd=dest_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=stage_fd)
            raise
    return moved_aside
