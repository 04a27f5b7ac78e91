"""Claude's transcript files in a run, found and opened as the agent's files.

``claude/projects`` is walked without following a link, within bounds on the folders
and entries looked at and the files listed (:func:`find_transcripts`), and a file is
opened only while it is the regular file that was listed (:func:`open_transcript`).
What was left out is said in the :class:`Listing`.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from ... import agentfs
from ...errors import AgentFileError, AgentFileMissing, TooManyEntries
from ...text import printable

__all__ = [
    "MAX_FILES",
    "MAX_FOLDER_ENTRIES",
    "Listing",
    "TranscriptFile",
    "find_transcripts",
    "open_transcript",
]

#: How deep below ``claude/projects`` transcripts are looked for (Claude keeps a
#: conversation's subagents in ``<project>/<session>/subagents/``).
MAX_DEPTH = 4
#: Entries one folder may hold for it to be looked into, and entries looked at in all.
MAX_FOLDER_ENTRIES = 1000
MAX_ENTRIES = 10_000
#: Transcripts read for one run.
MAX_FILES = 1000


class TranscriptFile(msgspec.Struct, frozen=True, kw_only=True):
    """One transcript as listed: where (folder names below ``projects``) and which bytes."""

    parts: tuple[str, ...]
    dev: int
    ino: int
    size: int
    mtime_ns: int
    #: The change time, which no one can set: a file rewritten to the same size and
    #: modification time still reads as changed.
    ctime_ns: int


class Listing(msgspec.Struct, kw_only=True):
    """The transcripts in a run, found within the bounds."""

    files: list[TranscriptFile] = []
    #: The first reason something was left out, when something was.
    problem: str | None = None
    entries_seen: int = 0

    def left_out(self, problem: str) -> None:
        if self.problem is None:
            self.problem = printable(problem)

    def digest(self) -> str:
        """What the listing names, in a few bytes: a count made of it holds while this is
        the same (a key for a cache)."""
        digest = hashlib.sha256()
        for file in self.files:
            digest.update(os.fsencode("/".join(file.parts)) + b"\0")
            numbers = (file.dev, file.ino, file.size, file.mtime_ns, file.ctime_ns)
            digest.update(b"%d %d %d %d %d\n" % numbers)
        digest.update((self.problem or "").encode(errors="replace"))
        return digest.hexdigest()


def find_transcripts(claude_dir: Path) -> Listing:
    """The ``*.jsonl`` files under ``claude_dir/projects`` (regular files only, links
    not followed), within :data:`MAX_FILES` and the bounds on entries looked at."""
    listing = Listing()
    try:
        with (
            agentfs.open_folder(claude_dir) as claude,
            agentfs.open_folder("projects", dir_fd=claude) as projects,
        ):
            _walk(projects, (), listing)
    except AgentFileMissing:
        pass  # none yet: nothing left out
    except AgentFileError as exc:
        listing.left_out(f"claude/projects {exc.problem}")
    return listing


def _walk(folder: int, parts: tuple[str, ...], listing: Listing) -> None:
    label = "/".join(("claude/projects", *parts))
    try:
        entries = agentfs.list_dir(folder, label=label, limit=MAX_FOLDER_ENTRIES)
    except TooManyEntries as exc:
        listing.left_out(str(exc))
        return
    for name, kind in sorted(entries):
        listing.entries_seen += 1
        if listing.entries_seen > MAX_ENTRIES:
            listing.left_out(f"past the {MAX_ENTRIES} entries looked at under claude/projects")
            return
        if kind == stat.S_IFDIR:
            if len(parts) + 1 >= MAX_DEPTH:
                continue  # deeper than Claude writes
            try:
                with agentfs.open_folder(name, dir_fd=folder) as sub:
                    _walk(sub, (*parts, name), listing)
            except AgentFileError:
                continue  # replaced by a link meanwhile: not followed
        elif name.endswith(".jsonl"):
            if kind != stat.S_IFREG:
                listing.left_out(f"{label}/{name} is not a regular file; not read")
                continue
            if len(listing.files) >= MAX_FILES:
                listing.left_out(f"past the {MAX_FILES} transcripts read for one run")
                return
            try:
                info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except OSError:
                continue  # gone meanwhile
            if stat.S_ISREG(info.st_mode):
                listing.files.append(
                    TranscriptFile(
                        parts=(*parts, name),
                        dev=info.st_dev,
                        ino=info.st_ino,
                        size=info.st_size,
                        mtime_ns=info.st_mtime_ns,
                        ctime_ns=info.st_ctime_ns,
                    )
                )


@contextmanager
def open_transcript(claude_dir: Path, file: TranscriptFile) -> Iterator[int]:
    """A descriptor of ``file``, opened as :mod:`scad.agentfs` opens an agent's files.
    Raises AgentFileError when it is no longer the regular file that was listed."""
    *folders, name = file.parts
    with (
        agentfs.open_folder(claude_dir) as claude,
        agentfs.open_folder(Path("projects", *folders), dir_fd=claude) as folder,
        agentfs.open_regular_at(folder, name) as fd,
    ):
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != (file.dev, file.ino):
            raise AgentFileError(name, "changed since it was listed")
        yield fd
