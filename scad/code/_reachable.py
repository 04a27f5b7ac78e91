"""Bringing into scad's store only what a clone's new tips reach and its lenders lack.

After ``git repack -ad`` a clone holds one pack of everything, its borrowed history
included; indexing it whole costs the repository, not the run's work. Instead git
runs in a *scratch* object folder inside the store: its packs are the clone's,
through links to files scad opened without following links (``/proc/self/fd``,
passed to git), and its alternates, written by scad, are the store and the store's
lenders. ``pack-objects`` packs what the new tips reach that no lender's refs or
the tips of a finished read reach and no lender holds, and ``index-pack`` in the
store hashes every object it gets. The clone's ``.idx`` files only help git find objects: a
forged one can leave something out or bring the wrong object under its true name,
and then the new tips are not whole in the store and this raises GitError (the
caller then indexes the packs whole).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from ..errors import AgentFileError, GitError
from . import git

__all__ = ["OpenPack", "absent", "bring_reachable", "held_by_lenders", "is_whole", "lent_tips"]


class OpenPack(msgspec.Struct, frozen=True):
    """A pack of the clone and its index, as scad opened them (regular files)."""

    stem: str
    pack_fd: int
    idx_fd: int


def held_by_lenders(store: Path, oids: set[str]) -> set[str]:
    """Which of ``oids`` the store's lenders hold (not the store: a read that failed
    half-way leaves objects there whose history it lacks)."""
    lenders = _alternates(store)
    if not oids or not lenders:
        return set()
    env = git.store_environment() | {
        "GIT_OBJECT_DIRECTORY": lenders[0],
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.pathsep.join(lenders[1:]),
    }
    return oids - _missing(store, oids, env=env)


def absent(store: Path, oids: set[str]) -> set[str]:
    """Which of ``oids`` neither the store nor its lenders hold."""
    return _missing(store, oids, env=git.store_environment())


def _missing(
    store: Path, oids: set[str], *, env: dict[str, str], fds: Sequence[int] = ()
) -> set[str]:
    """Which of ``oids`` git lacks in the object folder ``env`` names."""
    wanted = "".join(f"{oid}\n" for oid in oids).encode()
    out = _run(store, "cat-file", "--batch-check=%(objectname)", input=wanted, env=env, fds=fds)
    return {line.split()[0] for line in out.decode().splitlines() if line.endswith(" missing")}


def bring_reachable(
    store: Path, packs: Sequence[OpenPack], tips: set[str], lent: set[str], limit: int
) -> None:
    """Copy into ``store`` what ``tips`` reach that no lender holds and none of the
    ``lent`` tips (:func:`lent_tips`) reaches, reading the clone's ``packs``; tips
    none of them holds are left out. Raises GitError when git could not do it,
    AgentFileError past ``limit`` bytes."""
    fds = [fd for pack in packs for fd in (pack.pack_fd, pack.idx_fd)]
    with _scratch(store, packs) as env:
        absent = _missing(store, tips | lent, env=env, fds=fds)
        if wanted := tips - absent:
            _pack_into(store, git.revisions(wanted, lent - absent), env, fds, limit)


def is_whole(store: Path, tips: set[str], lent: set[str], *, all_there: bool = False) -> bool:
    """Whether the store holds every object ``tips`` reach, trusting only that what
    the ``lent`` tips reach is there. Tips it does not hold at all pass (a reflog may
    name what the clone itself lacks), unless ``all_there``."""
    absent = _missing(store, tips | lent, env=git.store_environment())
    there = tips - absent
    if all_there and there != tips:
        return False
    if not there:
        return True
    revisions = git.revisions(there, lent - absent)
    try:
        _run(store, "rev-list", "--objects", "--quiet", "--stdin", input=revisions)
    except GitError:
        return False
    return True


@contextlib.contextmanager
def _scratch(store: Path, packs: Sequence[OpenPack]) -> Iterator[dict[str, str]]:
    """An object folder of the clone's packs lent by the store: git's environment there."""
    folder = store / f"scratch-{secrets.token_hex(6)}"
    try:
        (folder / "pack").mkdir(parents=True, mode=0o700)
        (folder / "info").mkdir(mode=0o700)
        lenders = [str(store / "objects"), *_alternates(store)]
        (folder / "info" / "alternates").write_text("".join(f"{f}\n" for f in lenders))
        for pack in packs:
            # /proc/self is git's own: the links name the files scad opened, whatever
            # the agent renames or links in the clone meanwhile.
            os.symlink(f"/proc/self/fd/{pack.pack_fd}", folder / "pack" / f"{pack.stem}.pack")
            os.symlink(f"/proc/self/fd/{pack.idx_fd}", folder / "pack" / f"{pack.stem}.idx")
        yield git.store_environment() | {"GIT_OBJECT_DIRECTORY": str(folder)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _alternates(store: Path) -> list[str]:
    """The store's lenders, as scad wrote them."""
    try:
        return (store / "objects" / "info" / "alternates").read_text().splitlines()
    except FileNotFoundError:
        return []


def lent_tips(store: Path) -> set[str]:
    """What the store's lenders' refs name: everything they reach, the store has. Not
    the store's own refs: they are the clone's as last read, whether that read
    finished or not. A lender whose refs cannot be listed names nothing (more is
    then copied, never less)."""
    tips: set[str] = set()
    for repo in (Path(folder).parent for folder in _alternates(store)):
        with contextlib.suppress(GitError):
            out = _run(
                repo, "-c", f"safe.directory={repo}", "for-each-ref", "--format=%(objectname)"
            )
            tips.update(out.decode().split())
    return tips


def _pack_into(
    store: Path, revisions: bytes, env: dict[str, str], fds: list[int], limit: int
) -> None:
    """``pack-objects`` in the scratch folder piped into ``index-pack`` in the store,
    up to ``limit`` bytes."""
    pack_dir = store / "objects" / "pack"
    before = set(os.listdir(pack_dir))
    # Everything but the pack itself goes through files: a pipe nobody drains could block.
    with (
        tempfile.TemporaryFile() as revs,
        tempfile.TemporaryFile() as packer_errors,
        tempfile.TemporaryFile() as indexer_errors,
    ):
        revs.write(revisions)
        revs.seek(0)
        packer = subprocess.Popen(
            git.store_command(
                store, "pack-objects", "--revs", "--thin", "--local", "--stdout", "--quiet",
                "--delta-base-offset",
            ),
            stdin=revs, stdout=subprocess.PIPE, stderr=packer_errors, env=env, pass_fds=fds,
        )  # fmt: skip
        indexer = subprocess.Popen(
            git.store_command(store, "index-pack", "--stdin", "--fix-thin"),
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=indexer_errors,
            env=git.store_environment(),
        )  # fmt: skip
        size = _relay(packer, indexer, limit)
        packer_errors.seek(0)
        indexer_errors.seek(0)
        problem = (
            f"git pack-objects of the clone failed: {_last_line(packer_errors.read(64 << 10))}"
            if packer.returncode != 0
            else f"git index-pack of its work failed: {_last_line(indexer_errors.read(64 << 10))}"
        )
    if packer.returncode == 0 and indexer.returncode == 0 and size <= limit:
        return
    for left in set(os.listdir(pack_dir)) - before:
        if left.startswith("tmp_"):
            (pack_dir / left).unlink(missing_ok=True)
    if size > limit:
        raise AgentFileError(".git/objects", f"holds new work past the {limit}-byte bound left")
    raise GitError(problem)


def _relay(packer: subprocess.Popen[bytes], indexer: subprocess.Popen[bytes], limit: int) -> int:
    """Pass the pack from ``packer`` to ``indexer`` until its end or past ``limit``
    bytes (then both are killed); both have ended on return. Returns the bytes read."""
    assert packer.stdout is not None and indexer.stdin is not None
    size, whole = 0, False
    try:
        with contextlib.suppress(BrokenPipeError):  # index-pack stopped: its verdict follows
            while size <= limit:
                chunk = os.read(packer.stdout.fileno(), 1 << 20)
                if not chunk:
                    whole = True
                    break
                size += len(chunk)
                if size <= limit:
                    indexer.stdin.write(chunk)
    finally:
        with contextlib.suppress(BrokenPipeError):
            indexer.stdin.close()
        packer.stdout.close()
        if not whole:  # it could wait forever on a pipe nobody reads
            packer.kill()
        if size > limit:
            indexer.kill()
        packer.wait()
        indexer.wait()
    return size


def _run(
    repo: Path,
    *args: str,
    input: bytes = b"",
    env: dict[str, str] | None = None,
    fds: Sequence[int] = (),
) -> bytes:
    """git in a repository scad made (or a lender's refs): its output; raises GitError."""
    result = subprocess.run(
        git.store_command(repo, *args), input=input, capture_output=True,
        env=env or git.store_environment(), pass_fds=fds, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        verb = next(a for a in args if not a.startswith("-") and "=" not in a)
        raise GitError(f"git {verb} in {repo} failed: {_last_line(result.stderr)}")
    return result.stdout


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no reason given"
