"""Copying a clone's objects into scad's store: loose objects verified by their hash,
packs streamed through ``git index-pack`` (which hashes every object and writes
scad's own index); never the clone's ``.idx`` files or its alternates. Within
budgets of bytes copied, bytes inflated and packs indexed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import stat
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from .. import agentfs
from ..agentfs import MAX_ENTRIES
from ..errors import AgentFileError, GitError, TooManyEntries
from . import _reachable, git

__all__ = ["copy_objects", "write_file"]

#: A loose object's file, and its content once inflated.
LOOSE_OBJECT_LIMIT = 64 << 20
INFLATED_LIMIT = 256 << 20
PACK_LIMIT = 16 << 30
IDX_LIMIT = 1 << 30
#: New bytes one snapshot may copy into the store, bytes it may inflate to verify
#: loose objects (the CPU it spends hashing), and new packs it may index.
COPY_BUDGET = 4 << 30
INFLATE_BUDGET = 1 << 30
MAX_NEW_PACKS = 64
#: Entries of ``.git/objects`` one snapshot looks at, in all its folders.
MAX_OBJECT_ENTRIES = 1_000_000

_FANOUT = re.compile(r"[0-9a-f]{2}")
_LOOSE = re.compile(r"[0-9a-f]{38}")
_PACK = re.compile(r"pack-[0-9a-f]{40}\.pack")


def write_file(path: Path, data: bytes) -> None:
    """Write a file of the store atomically (the store is scad's; no agent reaches it)."""
    tmp = path.with_name(f".tmp-{secrets.token_hex(6)}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class _Budget:
    """What one snapshot may still spend: bytes copied into the store, bytes
    inflated to verify loose objects, packs indexed."""

    def __init__(self) -> None:
        self.left = COPY_BUDGET
        self.inflate_left = INFLATE_BUDGET
        self.packs_left = MAX_NEW_PACKS
        self.entries_left = MAX_OBJECT_ENTRIES

    def spend(self, size: int, what: str) -> None:
        self.left -= size
        if self.left < 0:
            raise AgentFileError(what, f"is past the {COPY_BUDGET}-byte bound on one read")

    def inflate(self, size: int, what: str) -> None:
        self.inflate_left -= size
        if self.inflate_left < 0:
            raise AgentFileError(what, f"is past the {INFLATE_BUDGET}-byte bound on inflating")

    def listing(self, folder: int, what: str) -> list[tuple[str, int]]:
        """The entries of ``folder``, counted against the bound on entries looked at."""
        if self.entries_left < MAX_ENTRIES:
            try:
                listed = agentfs.list_dir(folder, label=what, limit=self.entries_left)
            except TooManyEntries:
                raise AgentFileError(
                    what, f"is past the {MAX_OBJECT_ENTRIES} entries looked at in one read"
                ) from None
        else:
            listed = agentfs.list_dir(folder, label=what)
        self.entries_left -= len(listed)
        return listed

    def pack(self, what: str) -> None:
        self.packs_left -= 1
        if self.packs_left < 0:
            raise AgentFileError(what, f"is past the {MAX_NEW_PACKS} new packs read at once")


#: The store's list of the ids a finished read brought whole (scad's own file).
READ_TIPS = "scad-read-tips"


def copy_objects(git_fd: int, store: Path, host_objects: Path | None, tips: set[str]) -> None:
    """Bring into ``store`` every object ``tips`` reach in the clone that the store's
    lenders lack. Tips a finished read brought, or that a lender holds, need nothing
    (the common case: a read costs its refs); for the others loose objects are
    copied, and from packs only what they reach (:mod:`._reachable`). Should git not
    manage that (a forged ``.idx``, say), the packs the store lacks are indexed whole.

    An object in the store is not proof of the rest: a read that failed half-way
    leaves some. So the tips of each finished read are written down, and only they
    count as brought; a tip it found nowhere is not (the clone may hold it later)."""
    read_tips = store / READ_TIPS
    try:
        done = set(read_tips.read_text().split())
    except FileNotFoundError:
        done = set()
    lacking = tips - done
    lacking -= _reachable.held_by_lenders(store, lacking)
    brought = tips
    if lacking:
        lent = _reachable.lent_tips(store) | done
        if not _copy_lacking(git_fd, store, host_objects, lacking, lent):
            return  # as ever, what needs a missing object says so; read again next time
        brought = tips - _reachable.absent(store, lacking)
    if brought != done:
        write_file(read_tips, "".join(f"{tip}\n" for tip in sorted(brought)).encode())


def _copy_lacking(
    git_fd: int, store: Path, host_objects: Path | None, lacking: set[str], lent: set[str]
) -> bool:
    """Copy what ``lacking`` reach; whether the store then holds all of it."""
    host_packs = (
        set(os.listdir(host_objects / "pack"))
        if host_objects and (host_objects / "pack").is_dir()
        else set()
    )
    store_packs = set(os.listdir(store / "objects/pack"))
    budget = _Budget()
    with agentfs.open_folder("objects", dir_fd=git_fd) as objects:
        folders = [n for n, kind in budget.listing(objects, ".git/objects") if kind == stat.S_IFDIR]
        for name in filter(_FANOUT.fullmatch, folders):
            with agentfs.open_folder(name, dir_fd=objects) as fanout:
                _copy_loose(fanout, name, store / "objects" / name, budget)
        if "pack" not in folders:
            return _reachable.is_whole(store, lacking, lent)
        with agentfs.open_folder("pack", dir_fd=objects) as packs:
            listed = dict(budget.listing(packs, ".git/objects/pack"))
            new = [
                name for name, kind in listed.items()
                if kind == stat.S_IFREG and _PACK.fullmatch(name)
                and name not in host_packs and name not in store_packs
            ]  # fmt: skip
            if not new:
                return _reachable.is_whole(store, lacking, lent)
            try:
                with _opened(packs, new, listed) as opened:
                    _reachable.bring_reachable(store, opened, lacking, lent, budget.left)
                # A tip still missing may be one the clone lacks, or one a forged
                # index hid: only the packs read whole tell.
                if _reachable.is_whole(store, lacking, lent, all_there=True):
                    return True
            except GitError:
                pass
            # Indexed whole, the packs still show all the clone holds.
            for name in new:
                _index_pack(packs, name, store, budget)
    return _reachable.is_whole(store, lacking, lent)


@contextlib.contextmanager
def _opened(
    packs: int, names: list[str], kinds: dict[str, int]
) -> Iterator[list[_reachable.OpenPack]]:
    """The packs named and their indexes, opened without following links; a pack
    with no index as a regular file beside it is left out (git would not use it)."""
    if len(names) > MAX_NEW_PACKS:
        raise AgentFileError(
            ".git/objects/pack", f"is past the {MAX_NEW_PACKS} new packs read at once"
        )
    with contextlib.ExitStack() as stack:
        opened = []
        for name in names:
            stem = name.removesuffix(".pack")
            if kinds.get(f"{stem}.idx") != stat.S_IFREG:
                continue
            pack = stack.enter_context(_open_regular(packs, name, PACK_LIMIT))
            idx = stack.enter_context(_open_regular(packs, f"{stem}.idx", IDX_LIMIT))
            opened.append(_reachable.OpenPack(stem, pack, idx))
        yield opened


def _open_regular(folder: int, name: str, limit: int) -> contextlib.AbstractContextManager[int]:
    """A file of ``.git/objects/pack``, opened as a regular file within ``limit`` bytes."""
    return agentfs.open_regular_at(folder, name, limit=limit, label=f".git/objects/pack/{name}")


def _copy_loose(fanout: int, prefix: str, dest: Path, budget: _Budget) -> None:
    present = set(os.listdir(dest)) if dest.is_dir() else set()
    for name, kind in budget.listing(fanout, f".git/objects/{prefix}"):
        if kind != stat.S_IFREG or not _LOOSE.fullmatch(name) or name in present:
            continue
        label = f".git/objects/{prefix}/{name}"
        data = agentfs.read_file_at(fanout, name, limit=LOOSE_OBJECT_LIMIT, label=label)
        budget.spend(len(data), label)
        _verify_loose(data, prefix + name, label, budget)
        dest.mkdir(mode=0o700, exist_ok=True)
        write_file(dest / name, data)


def _verify_loose(data: bytes, oid: str, label: str, budget: _Budget) -> None:
    """A loose object is stored only when its content hashes to its name: a forged
    one could stand in for a host commit and hide the agent's work."""
    inflate = zlib.decompressobj()
    try:
        content = inflate.decompress(data, INFLATED_LIMIT + 1)
    except zlib.error:
        raise AgentFileError(label, "is not a git object") from None
    if len(content) > INFLATED_LIMIT or inflate.unconsumed_tail:
        raise AgentFileError(label, f"inflates past the {INFLATED_LIMIT}-byte bound")
    budget.inflate(len(content), label)
    if hashlib.sha1(content, usedforsecurity=False).hexdigest() != oid:
        raise AgentFileError(label, "does not hold the object its name says")


def _index_pack(packs: int, name: str, store: Path, budget: _Budget) -> None:
    """Let git read the pack as a stream, verify every object and index it itself.

    git gets exactly the bytes whose size was checked, through a pipe (a pack the
    agent grows meanwhile is cut there), and what it leaves in the store when the
    pack does not verify is removed.
    """
    label = f".git/objects/pack/{name}"
    budget.pack(label)
    pack_dir = store / "objects/pack"
    before = set(os.listdir(pack_dir))
    with _open_regular(packs, name, PACK_LIMIT) as fd:
        size = os.fstat(fd).st_size
        budget.spend(size, label)
        os.set_blocking(fd, True)
        result = _feed(git.store_command(store, "index-pack", "--stdin"), fd, size)
    if result.returncode != 0:
        for left in set(os.listdir(pack_dir)) - before:
            if left.startswith("tmp_"):
                (pack_dir / left).unlink(missing_ok=True)
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(
            f"pack {name} does not verify: {detail[-1] if detail else 'index-pack failed'}"
        )


def _feed(command: list[str], fd: int, size: int) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` with the first ``size`` bytes of ``fd`` on its stdin."""
    # Its output goes to files: a pipe nobody drains while stdin is written could block it.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=out, stderr=err, env=git.store_environment()
        )
        assert process.stdin is not None
        left = size
        with contextlib.suppress(BrokenPipeError):  # git stopped reading: its verdict follows
            try:
                while left > 0 and (chunk := os.read(fd, min(1 << 20, left))):
                    process.stdin.write(chunk)
                    left -= len(chunk)
            finally:
                process.stdin.close()
        process.wait()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())
