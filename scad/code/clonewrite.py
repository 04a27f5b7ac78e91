"""Writing into an agent's ``.git`` as data: new packs and refs, and nothing else.

git never runs in a clone on the host (its config and hooks are the agent's), so
scad hands a clone new commits the way git itself stores them:

- a pack and its index, made by git in scad's store, are copied into
  ``.git/objects/pack`` under a temporary name and renamed into place, index
  last (git uses a pack only once its index is there);
- a ref is written as git writes one: ``<ref>.lock`` is created exclusively
  (a running agent's git holding it makes scad back off), the old value is
  checked under it, and the lock is renamed over the ref.

Every folder is opened from the clone down without following a link (see
:mod:`scad.agentfs`), and every file scad makes is created exclusively, so
nothing an agent planted is written through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .. import agentfs
from ..errors import AgentFileError, AgentFileMissing, SessionError
from ._refs import PACKED_REFS_LIMIT, REF_FILE_LIMIT

__all__ = ["RefBusy", "add_pack", "update_ref"]

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class RefBusy(SessionError):
    """Raised when a ref of a clone is locked by git in the session, or no longer holds
    the value it was read with."""


def add_pack(clone: Path, pack: Path, index: Path, owner: tuple[int, int] | None) -> None:
    """Copy ``pack`` and its ``index`` into the clone's ``.git/objects/pack``."""
    with (
        agentfs.open_folder(clone) as clone_fd,
        _folders(clone_fd, ".git/objects/pack", owner) as packs,
    ):
        for source in (pack, index):
            tmp = f"tmp_scad_{secrets.token_hex(8)}"
            try:
                with source.open("rb") as reader, _new_file(packs, tmp, 0o444, owner) as writer:
                    shutil.copyfileobj(reader, writer)
                os.rename(tmp, source.name, src_dir_fd=packs, dst_dir_fd=packs)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=packs)
                raise


def update_ref(
    clone: Path,
    ref: str,
    new: str,
    *,
    old: str | None,
    owner: tuple[int, int] | None,
    check_old: bool,
) -> None:
    """Point ``ref`` (``refs/...``) of the clone at ``new``.

    With ``check_old``, only while it still holds ``old`` (None: while it does not
    exist); raises RefBusy otherwise, or when the agent's git holds its lock.
    """
    folder, _, name = f".git/{ref}".rpartition("/")
    with agentfs.open_folder(clone) as clone_fd, _folders(clone_fd, folder, owner) as ref_fd:
        lock = f"{name}.lock"
        try:
            writer = _new_file(ref_fd, lock, 0o644, owner)
        except FileExistsError:
            raise RefBusy(f"{ref} is locked by git in the session") from None
        try:
            with writer as out:
                out.write(f"{new}\n".encode())
            if check_old:
                with agentfs.open_folder(".git", dir_fd=clone_fd) as git_fd:
                    now = _read_ref(git_fd, ref_fd, name, ref)
                if now != old:
                    raise RefBusy(f"{ref} moved while scad updated it")
            os.rename(lock, name, src_dir_fd=ref_fd, dst_dir_fd=ref_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock, dir_fd=ref_fd)
            raise


def _read_ref(git_fd: int, ref_fd: int, name: str, ref: str) -> str | None:
    """The ref's value as git would read it: the loose file, else ``packed-refs``."""
    with contextlib.suppress(AgentFileMissing):
        return agentfs.read_file_at(ref_fd, name, limit=REF_FILE_LIMIT).strip().decode()
    try:
        packed = agentfs.read_file_at(git_fd, "packed-refs", limit=PACKED_REFS_LIMIT)
    except AgentFileMissing:
        return None
    wanted = f" {ref}".encode()
    for line in packed.split(b"\n"):
        if line.endswith(wanted) and not line.startswith((b"#", b"^")):
            return line[: -len(wanted)].decode(errors="replace")
    return None


@contextmanager
def _folders(top: int, path: str, owner: tuple[int, int] | None) -> Iterator[int]:
    """Folder ``path`` below ``top``, made where missing; no part of it may be a link."""
    fds: list[int] = []
    try:
        current = top
        for part in path.split("/"):
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=current)
                if owner is not None:
                    os.chown(part, *owner, dir_fd=current, follow_symlinks=False)
            try:
                current = os.open(
                    part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=current
                )
            except OSError as exc:
                kind = (
                    "is a symbolic link or not a folder"
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR)
                    else exc.strerror
                )
                raise AgentFileError(path, f"cannot be opened: {part} {kind}") from None
            fds.append(current)
        yield current
    finally:
        for fd in fds:
            os.close(fd)


def _new_file(folder: int, name: str, mode: int, owner: tuple[int, int] | None) -> BinaryIO:
    """A file made by scad (never one that was there: a link in its place fails)."""
    fd = os.open(name, _NEW_FILE, mode, dir_fd=folder)
    os.fchmod(fd, mode)
    if owner is not None:
        os.fchown(fd, *owner)
    return os.fdopen(fd, "wb")
