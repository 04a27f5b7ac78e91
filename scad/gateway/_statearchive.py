"""A remote run's Claude state as a tar: out to the run at its start, back at its end.

Out: the run's ``claude/`` and ``claude.json`` (as :mod:`scad.sessions` writes them)
and its prompt (``prompt.txt``); folders and regular files only, read without
following a link (:mod:`scad.agentfs`), bounded in entries and bytes.

Back: the tar comes from the run, so it is hostile. Only folders and regular files
under ``claude/`` and ``claude.json`` itself are taken; a link, a device, an absolute
name, a ``..``, too many entries (each folder made on the way to a file counts as
one), too deep a path or too many bytes refuse the whole upload. It is
written into a fresh folder of the run's first and swapped in only once whole, so an
upload cut short leaves the state that was there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from ..agentfs import list_dir, open_folder, open_regular_at
from ..errors import AgentFileError, AgentFileMissing

__all__ = [
    "MAX_STATE_BYTES",
    "MAX_STATE_DEPTH",
    "MAX_STATE_ENTRIES",
    "StateRefused",
    "pack_state",
    "unpack_state",
]

#: Bounds on Claude's state either way: its transcripts, settings and todos.
MAX_STATE_ENTRIES = 20_000
MAX_STATE_BYTES = 256 << 20
#: The most names in one entry's path (``claude/projects/x/t.jsonl`` has four).
MAX_STATE_DEPTH = 32
CLAUDE_DIR = "claude"
CLAUDE_JSON = "claude.json"
PROMPT = "prompt.txt"
_CHUNK = 1 << 20
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class StateRefused(ValueError):
    """An archive that is not a run's Claude state within bounds."""


class _Budget:
    def __init__(self, entries: int, size: int) -> None:
        self.entries, self.size = entries, size

    def take(self, size: int) -> None:
        self.entries -= 1
        self.size -= size
        if self.entries < 0:
            raise StateRefused("the state holds too many entries")
        if self.size < 0:
            raise StateRefused("the state is too large")


def pack_state(
    run_dir: Path,
    out: IO[bytes],
    *,
    max_entries: int = MAX_STATE_ENTRIES,
    max_bytes: int = MAX_STATE_BYTES,
) -> None:
    """Write the run's state as a tar into ``out``; raises StateRefused past a bound
    and AgentFileError for a run folder that cannot be read."""
    budget = _Budget(max_entries, max_bytes)
    with open_folder(run_dir) as run, tarfile.open(fileobj=out, mode="w|") as archive:
        with contextlib.suppress(AgentFileMissing), open_folder(CLAUDE_DIR, dir_fd=run) as claude:
            _pack_folder(archive, claude, CLAUDE_DIR, budget)
        _pack_file(archive, run, CLAUDE_JSON, CLAUDE_JSON, budget)
        with contextlib.suppress(AgentFileMissing), open_folder("inputs", dir_fd=run) as inputs:
            _pack_file(archive, inputs, PROMPT, PROMPT, budget)


def _pack_folder(archive: tarfile.TarFile, folder: int, name: str, budget: _Budget) -> None:
    if name.count("/") >= MAX_STATE_DEPTH:
        raise StateRefused(f"a path is more than {MAX_STATE_DEPTH} names deep")
    budget.take(0)
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o700
    archive.addfile(info)
    for entry, kind in sorted(list_dir(folder, label=name, limit=max(budget.entries, 0) + 1)):
        inside = f"{name}/{entry}"
        if kind == stat.S_IFDIR:
            with open_folder(entry, dir_fd=folder) as sub:
                _pack_folder(archive, sub, inside, budget)
        elif kind == stat.S_IFREG:
            _pack_file(archive, folder, entry, inside, budget)
        # Anything else (a link, a FIFO) is no part of Claude's state.


def _pack_file(
    archive: tarfile.TarFile, folder: int, entry: str, name: str, budget: _Budget
) -> None:
    with contextlib.ExitStack() as stack:
        try:
            fd = stack.enter_context(open_regular_at(folder, entry))
        except AgentFileError:
            return  # missing, a link, a FIFO, a device: left out, never opened
        file = stack.enter_context(open(fd, "rb", closefd=False))
        found = os.fstat(fd)
        budget.take(found.st_size)
        info = tarfile.TarInfo(name)
        info.size, info.mode = found.st_size, 0o600
        archive.addfile(info, _Exactly(file, found.st_size))


class _Exactly:
    """A file read as ``size`` bytes: one that grew or shrank meanwhile is cut or padded,
    so the tar stays whole."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file, self._left = file, size

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        data = self._file.read(n)
        data += b"\0" * (n - len(data))
        self._left -= n
        return data


def unpack_state(
    run_dir: Path,
    archive_file: BinaryIO,
    *,
    max_entries: int = MAX_STATE_ENTRIES,
    max_bytes: int = MAX_STATE_BYTES,
) -> None:
    """Replace the run's ``claude/`` and ``claude.json`` with what ``archive_file``
    holds; raises StateRefused (the state left as it was) for anything but them."""
    budget = _Budget(max_entries, max_bytes)
    staging = f".state-in-{secrets.token_hex(6)}"
    with open_folder(run_dir) as run:
        os.mkdir(staging, 0o700, dir_fd=run)
        try:
            with open_folder(staging, dir_fd=run) as stage:
                _unpack(archive_file, stage, budget)
                _swap(run, staging, stage)
        finally:
            shutil.rmtree(run_dir / staging, ignore_errors=True)


def _unpack(archive_file: BinaryIO, stage: int, budget: _Budget) -> None:
    try:
        with tarfile.open(fileobj=archive_file, mode="r|") as archive:
            for member in archive:
                parts = _parts(member.name)
                budget.take(member.size if member.isfile() else 0)
                if member.isdir() and parts[0] == CLAUDE_DIR:
                    with _folder_of(stage, parts, budget):
                        pass
                elif member.isfile() and parts != [CLAUDE_DIR]:
                    source = archive.extractfile(member)
                    assert source is not None
                    with _folder_of(stage, parts[:-1], budget) as folder:
                        _write(folder, parts[-1], source)
                else:
                    raise StateRefused(f"{member.name!r} is not a folder or a file it may be")
    except (tarfile.TarError, EOFError) as exc:
        raise StateRefused(f"not a whole tar ({exc})") from None
    except AgentFileError as exc:
        raise StateRefused(f"{exc.path} {exc.problem}") from None
    except OSError as exc:
        raise StateRefused(f"cannot be written ({exc.strerror or exc})") from None


def _parts(name: str) -> list[str]:
    """The path of an archive entry as folder names, when it is one the state may hold."""
    if name.startswith("/") or "\\" in name or "\0" in name:
        raise StateRefused(f"{name!r} is not a relative path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise StateRefused(f"{name!r} climbs out with '..'")
    if len(parts) > MAX_STATE_DEPTH:
        raise StateRefused(f"a path is more than {MAX_STATE_DEPTH} names deep")
    if parts == [CLAUDE_JSON] or (parts and parts[0] == CLAUDE_DIR):
        return parts
    raise StateRefused(f"{name!r} is not under {CLAUDE_DIR}/ nor {CLAUDE_JSON}")


@contextlib.contextmanager
def _folder_of(stage: int, parts: list[str], budget: _Budget) -> Iterator[int]:
    """The staging folder at ``parts``, made on the way (each folder made is an entry
    of the budget: one entry's path can name many)."""
    with contextlib.ExitStack() as stack:
        folder = stage
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o700, dir_fd=folder)
                budget.take(0)
            folder = stack.enter_context(open_folder(part, dir_fd=folder))
        yield folder


def _write(folder: int, name: str, source: IO[bytes]) -> None:
    fd = os.open(name, _NEW, 0o600, dir_fd=folder)
    with open(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)


def _swap(run: int, staging: str, stage: int) -> None:
    """Move what the upload holds into place; what was there goes into the staging
    folder (removed after)."""
    names = {entry for entry, _ in list_dir(stage, limit=4)}
    aside = f"old-{secrets.token_hex(4)}"
    os.mkdir(aside, 0o700, dir_fd=stage)
    with open_folder(aside, dir_fd=stage) as old:
        for name in (CLAUDE_DIR, CLAUDE_JSON):
            if name not in names:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.rename(name, name, src_dir_fd=run, dst_dir_fd=old)
            os.rename(name, name, src_dir_fd=stage, dst_dir_fd=run)
