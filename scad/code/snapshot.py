"""An agent's clone seen through a repository scad owns.

git never runs in a clone: its config (``include.path`` too), attributes and
hooks can make git run anything, and ``safe.directory=*`` would let them. So a
clone is read as data and mirrored into a bare *store* beside it in the run
directory (never mounted into the container), whose config scad writes:

- refs: ``HEAD``, loose refs under ``refs/heads`` and ``packed-refs`` are read
  as text; names are checked as git checks them and ids must be hex object ids;
- what else keeps commits in the clone is read too, for its ids only: every
  other ref (tags, the stash, notes, any namespace), git's pseudo refs
  (``ORIG_HEAD``...) and every entry of every reflog;
- objects: loose object files are copied; packs are streamed through
  ``git index-pack``, which hashes every object and writes scad's own index;
  ``objects/info/alternates`` and the clone's ``.idx`` files are never read;
- the store borrows the host repo's objects (its own alternates, written by
  scad), so the packs a clone shares with its host are not copied at all.

Every open goes through :mod:`scad.agentfs`: no link is followed, so a ``.git``
that became a ``gitdir:`` file or a link, or objects that point elsewhere,
name nothing outside the run. The copy is incremental: a file already in the
store is not copied again (object and pack names are content hashes).
"""

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
from collections.abc import Callable
from pathlib import Path

import anyio
import msgspec

from .. import agentfs
from ..agentfs import MAX_ENTRIES
from ..errors import AgentFileError, GitError, TooManyEntries, UnreadableClone
from ..text import printable
from . import git

__all__ = ["CloneSnapshot", "snapshot_clone"]

#: Bounds on what an agent's ``.git`` may make scad read.
REF_FILE_LIMIT = 4096
PACKED_REFS_LIMIT = 64 << 20
#: A loose object's file, and its content once inflated.
LOOSE_OBJECT_LIMIT = 64 << 20
INFLATED_LIMIT = 256 << 20
PACK_LIMIT = 16 << 30
#: New bytes one snapshot may copy into the store, bytes it may inflate to verify
#: loose objects (the CPU it spends hashing), and new packs it may index.
COPY_BUDGET = 4 << 30
INFLATE_BUDGET = 1 << 30
MAX_NEW_PACKS = 64
#: Entries of ``.git/objects`` one snapshot looks at, in all its folders.
MAX_OBJECT_ENTRIES = 1_000_000
MAX_REFS = 100_000
MAX_REF_DEPTH = 16
#: Bytes of reflogs one snapshot reads.
REFLOG_BUDGET = 16 << 20
#: Files in ``.git`` besides HEAD that name a commit git keeps: the tip before a
#: reset, the other side of a merge or a pick.
PSEUDO_REFS = (
    "ORIG_HEAD", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "BISECT_HEAD", "AUTO_MERGE"
)  # fmt: skip


_OID = re.compile(rb"[0-9a-f]{40}")
_NO_OID = b"0" * 40
_FANOUT = re.compile(r"[0-9a-f]{2}")
_LOOSE = re.compile(r"[0-9a-f]{38}")
_PACK = re.compile(r"pack-[0-9a-f]{40}\.pack")
_BAD_REF = re.compile(
    r"[\x00-\x20\x7f-\x9f~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.$|^\.|/\.|\.lock$|\.lock/"
)

STORE_CONFIG = b"""\
[core]
\trepositoryformatversion = 0
\tbare = true
[gc]
\tauto = 0
[uploadpack]
\tallowAnySHA1InWant = true
"""


class CloneSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What a clone's refs said when it was read, and the store that holds its objects."""

    store: str
    #: Branch name (without ``refs/heads/``) -> commit id.
    branches: dict[str, str]
    #: The checked-out branch; None when HEAD is detached (see ``detached``).
    head_branch: str | None
    #: HEAD's commit when detached.
    detached: str | None
    #: Ids that everything else keeping commits in the clone names: its other refs,
    #: pseudo refs and reflog entries. Objects of any kind, or none the clone has.
    kept: list[str] = []
    #: Why ``kept`` could not be read in full (then it is empty).
    kept_problem: str | None = None
    #: Branches whose names git would not accept (``HEAD``, controls, not UTF-8),
    #: shown escaped, and their commit ids: never fetched, but counted as work.
    refused: dict[str, str] = {}


def valid_branch(name: str) -> bool:
    """Whether git would accept ``refs/heads/<name>`` (git check-ref-format's rules),
    and the name is printable text: no control characters, nothing that is not UTF-8.
    ``HEAD`` is refused too: it would read as the clone's HEAD."""
    return (
        0 < len(name) < 1024
        and name not in ("@", "HEAD")
        and name.isprintable()
        and not _BAD_REF.search(name)
    )


async def snapshot_clone(clone: Path, store: Path, host_repo: Path) -> CloneSnapshot:
    """Mirror ``clone``'s refs and objects into ``store`` (made when missing).

    Raises UnreadableClone when the clone cannot be read without trusting it.
    """
    host_objects = await _host_objects(host_repo)
    try:
        return await anyio.to_thread.run_sync(_snapshot, clone, store, host_objects)
    except (AgentFileError, GitError) as exc:
        raise UnreadableClone(clone.name, str(exc)) from None
    except OSError as exc:  # the store's side: a full disk, say
        raise UnreadableClone(clone.name, f"its store cannot be written ({exc})") from None


async def _host_objects(host_repo: Path) -> Path | None:
    if not await git.is_repository(host_repo):
        return None
    out = await git.git(host_repo, "rev-parse", "--path-format=absolute", "--git-path", "objects")
    return Path(out.strip())


def _snapshot(clone: Path, store: Path, host_objects: Path | None) -> CloneSnapshot:
    _init_store(store, host_objects)
    with (
        agentfs.open_folder(clone) as clone_fd,
        agentfs.open_folder(".git", dir_fd=clone_fd) as git_fd,
    ):
        head_branch, detached = _read_head(git_fd)
        packed = _read_packed(git_fd)
        refused: dict[str, str] = {}
        branches = _read_branches(git_fd, packed, refused)
        try:
            kept, kept_problem = _read_kept(git_fd, packed), None
        except AgentFileError as exc:  # the branches can still be fetched
            kept, kept_problem = set(), str(exc)
        _copy_objects(git_fd, store, host_objects)
    snapshot = CloneSnapshot(
        store=str(store),
        branches=branches,
        head_branch=head_branch,
        detached=detached,
        kept=sorted(kept | set(refused.values())),
        kept_problem=kept_problem,
        refused=refused,
    )
    _write_refs(store, snapshot)
    return snapshot


def _init_store(store: Path, host_objects: Path | None) -> None:
    for folder in ("objects/pack", "objects/info", "refs/heads"):
        (store / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(store / "config", STORE_CONFIG)
    if not (store / "HEAD").exists():
        _write(store / "HEAD", b"ref: refs/heads/main\n")  # git needs one to see a repository
    alternates = store / "objects/info/alternates"
    if host_objects is not None and host_objects.is_dir():
        _write(alternates, str(host_objects).encode() + b"\n")
    else:
        alternates.unlink(missing_ok=True)


def _write(path: Path, data: bytes) -> None:
    """Write a file of the store atomically (the store is scad's; no agent reaches it)."""
    tmp = path.with_name(f".tmp-{secrets.token_hex(6)}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _read_head(git_fd: int) -> tuple[str | None, str | None]:
    text = agentfs.read_file_at(git_fd, "HEAD", limit=REF_FILE_LIMIT, label=".git/HEAD").strip()
    if text.startswith(b"ref: refs/heads/"):
        name = text.removeprefix(b"ref: refs/heads/").decode(errors="replace")
        if not valid_branch(name):
            raise AgentFileError(".git/HEAD", f"names {name!r}, not a branch git accepts")
        return name, None
    if _OID.fullmatch(text):
        return None, text.decode()
    raise AgentFileError(".git/HEAD", "is neither a branch nor a commit id")


def _read_packed(git_fd: int) -> bytes:
    try:
        return agentfs.read_file_at(
            git_fd, "packed-refs", limit=PACKED_REFS_LIMIT, label=".git/packed-refs"
        )
    except AgentFileError as exc:
        if exc.problem != "does not exist":
            raise
        return b""


def _read_branches(git_fd: int, data: bytes, refused: dict[str, str]) -> dict[str, str]:
    """The clone's branches; those whose names git would not accept go to ``refused``
    instead (shown name -> commit id)."""
    packed: dict[str, str] = {}
    for line in data.split(b"\n"):  # as git splits it: a \r is part of a name, not an end
        if line.startswith((b"#", b"^")) or not line.strip():
            continue
        oid, _, ref = line.partition(b" ")
        if ref.startswith(b"refs/heads/"):
            name = ref.removeprefix(b"refs/heads/").decode(errors="surrogateescape")
            if name in packed:  # git would read the first, a lookup of ours the last
                raise AgentFileError(".git/packed-refs", f"names branch {name!r} twice")
            _add_branch(packed, refused, name, oid)
    loose: dict[str, str] = {}
    try:
        with agentfs.open_folder("refs/heads", dir_fd=git_fd) as heads:
            _read_loose(heads, "", loose, refused, depth=0)
    except AgentFileError as exc:
        if exc.problem != "does not exist":
            raise
    return packed | loose  # a loose ref overrides its packed twin, as in git


def _text(name: bytes, where: str) -> str:
    try:
        return name.decode()
    except UnicodeDecodeError:
        raise AgentFileError(where, "names a branch that is not UTF-8") from None


def _read_loose(
    folder: int, prefix: str, branches: dict[str, str], refused: dict[str, str], depth: int
) -> None:
    if depth > MAX_REF_DEPTH:
        raise AgentFileError(f"refs/heads/{prefix}", "nests too deep")
    for name, kind in agentfs.list_dir(folder, label=f".git/refs/heads/{prefix}"):
        label = f".git/refs/heads/{prefix}{name}"
        if name.endswith(".lock"):
            continue  # git's own half-written update
        if kind == stat.S_IFDIR:
            with agentfs.open_folder(name, dir_fd=folder) as sub:
                _read_loose(sub, f"{prefix}{name}/", branches, refused, depth + 1)
        elif kind == stat.S_IFREG:
            text = agentfs.read_file_at(folder, name, limit=REF_FILE_LIMIT, label=label).strip()
            if text.startswith(b"ref: "):
                # A branch that follows another: fine when that one is a branch read anyway.
                target = _text(text.removeprefix(b"ref: "), label)
                if not (target.startswith("refs/heads/") and valid_branch(target[11:])):
                    raise AgentFileError(label, "follows a ref that is not a branch")
                continue
            _add_branch(branches, refused, prefix + name, text)
        else:
            raise AgentFileError(label, "is not a regular file")


def _add_branch(branches: dict[str, str], refused: dict[str, str], name: str, oid: bytes) -> None:
    if not _OID.fullmatch(oid):
        raise AgentFileError(f"branch {name!r}", "does not hold a commit id")
    if len(branches) + len(refused) >= MAX_REFS and name not in branches:
        raise AgentFileError(".git", f"holds more than {MAX_REFS} branches")
    if valid_branch(name):
        branches[name] = oid.decode()
    else:  # HEAD, a name not UTF-8 or with controls: never a branch of scad's, still work
        refused[printable(name)] = oid.decode()


class _Kept:
    """Ids read from the clone's other refs and reflogs, within bounds on how many
    files and how many reflog bytes one snapshot reads."""

    def __init__(self) -> None:
        self.oids: set[str] = set()
        self.files_left = MAX_REFS
        self.reflog_left = REFLOG_BUDGET

    def add(self, oid: bytes, label: str) -> None:
        if not _OID.fullmatch(oid):
            raise AgentFileError(label, "does not hold an object id")
        if oid != _NO_OID:
            self.oids.add(oid.decode())

    def file(self, label: str) -> None:
        self.files_left -= 1
        if self.files_left < 0:
            raise AgentFileError(label, f"is past the {MAX_REFS} refs and reflogs read at once")


def _read_kept(git_fd: int, packed: bytes) -> set[str]:
    """The ids of every ref but the branches, of git's pseudo refs, and of every
    reflog entry: commits an agent made stay reachable from these after it moved
    its branches away (a tag, the stash, a note, a reset)."""
    kept = _Kept()
    for line in packed.split(b"\n"):
        if line.startswith(b"^"):  # the commit a packed annotated tag peels to
            kept.add(line[1:].strip(), ".git/packed-refs")
        elif line.strip() and not line.startswith(b"#"):
            oid, _, ref = line.partition(b" ")
            if not ref.startswith(b"refs/heads/"):
                kept.add(oid, ".git/packed-refs")
    for name in PSEUDO_REFS:
        text = _read_if_there(git_fd, name, limit=REF_FILE_LIMIT)
        for line in (text or b"").split(b"\n"):  # MERGE_HEAD may list several, one a line
            if line.strip():
                kept.add(line.strip()[:40], f".git/{name}")

    def take_ref(folder: int, name: str, label: str) -> None:
        kept.file(label)
        text = agentfs.read_file_at(folder, name, limit=REF_FILE_LIMIT, label=label).strip()
        if not text.startswith(b"ref: "):  # one that follows another: that one is read
            kept.add(text, label)

    def take_reflog(folder: int, name: str, label: str) -> None:
        kept.file(label)
        if kept.reflog_left <= 0:
            raise AgentFileError(label, f"is past the {REFLOG_BUDGET}-byte bound on reflogs")
        data = agentfs.read_file_at(folder, name, limit=kept.reflog_left, label=label)
        kept.reflog_left -= len(data)
        for line in data.split(b"\n"):
            if line.strip():  # "<old> <new> <who> <when>\t<message>"
                kept.add(line[:40], label)
                kept.add(line[41:81], label)

    def take_worktree_file(folder: int, name: str, label: str) -> None:
        # A linked worktree (`git worktree add`) keeps its own HEAD, pseudo refs, refs
        # and reflogs under .git/worktrees/<name>/; the rest there is not about commits.
        inside = label.split("/")[3:-1]  # the folders below .git/worktrees/<name>
        if inside[:1] == ["logs"]:
            take_reflog(folder, name, label)
        elif inside[:1] == ["refs"] or (not inside and name in ("HEAD", *PSEUDO_REFS)):
            kept.file(label)
            text = agentfs.read_file_at(folder, name, limit=REF_FILE_LIMIT, label=label)
            for line in text.split(b"\n"):
                if line.strip() and not line.startswith(b"ref: "):
                    kept.add(line.strip()[:40], label)
        else:
            kept.file(label)

    with contextlib.ExitStack() as stack:
        if (refs := _open_if_there(stack, git_fd, "refs")) is not None:
            _walk(refs, ".git/refs", take_ref, 0, skip="heads")
        if (logs := _open_if_there(stack, git_fd, "logs")) is not None:
            _walk(logs, ".git/logs", take_reflog, 0)
        if (trees := _open_if_there(stack, git_fd, "worktrees")) is not None:
            _walk(trees, ".git/worktrees", take_worktree_file, 0)
    return kept.oids


def _read_if_there(folder: int, name: str, *, limit: int) -> bytes | None:
    try:
        return agentfs.read_file_at(folder, name, limit=limit, label=f".git/{name}")
    except AgentFileError as exc:
        if exc.problem != "does not exist":
            raise
        return None


def _open_if_there(stack: contextlib.ExitStack[bool | None], parent: int, name: str) -> int | None:
    try:
        return stack.enter_context(agentfs.open_folder(name, dir_fd=parent))
    except AgentFileError as exc:
        if exc.problem != "does not exist":
            raise
        return None


def _walk(
    folder: int,
    label: str,
    take: Callable[[int, str, str], None],
    depth: int,
    *,
    skip: str | None = None,
) -> None:
    """``take`` each regular file below ``folder`` (git's half-written ``.lock`` files
    aside), within ``MAX_REF_DEPTH`` folders; anything else there is refused."""
    if depth > MAX_REF_DEPTH:
        raise AgentFileError(label, "nests too deep")
    for name, kind in agentfs.list_dir(folder, label=label):
        path = f"{label}/{name}"
        if name.endswith(".lock") or name == skip:
            continue
        if kind == stat.S_IFDIR:
            with agentfs.open_folder(name, dir_fd=folder) as sub:
                _walk(sub, path, take, depth + 1)
        elif kind == stat.S_IFREG:
            take(folder, name, path)
        elif kind == stat.S_IFLNK:
            raise AgentFileError(path, "is a symbolic link; not followed")
        else:
            raise AgentFileError(path, "is not a regular file")


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


def _copy_objects(git_fd: int, store: Path, host_objects: Path | None) -> None:
    host_packs = (
        set(os.listdir(host_objects / "pack"))
        if host_objects and (host_objects / "pack").is_dir()
        else set()
    )
    store_packs = set(os.listdir(store / "objects/pack"))
    budget = _Budget()
    with agentfs.open_folder("objects", dir_fd=git_fd) as objects:
        for name, kind in budget.listing(objects, ".git/objects"):
            if kind != stat.S_IFDIR:
                continue
            if _FANOUT.fullmatch(name):
                with agentfs.open_folder(name, dir_fd=objects) as fanout:
                    _copy_loose(fanout, name, store / "objects" / name, budget)
            elif name == "pack":
                with agentfs.open_folder(name, dir_fd=objects) as packs:
                    for pack, pack_kind in budget.listing(packs, ".git/objects/pack"):
                        new = pack not in host_packs and pack not in store_packs
                        if pack_kind == stat.S_IFREG and _PACK.fullmatch(pack) and new:
                            _index_pack(packs, pack, store, budget)


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
        _write(dest / name, data)


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
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=packs)
    except OSError as exc:
        raise AgentFileError(label, f"cannot be opened ({exc.strerror})") from None
    pack_dir = store / "objects/pack"
    before = set(os.listdir(pack_dir))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > PACK_LIMIT:
            raise AgentFileError(label, "is not a regular file within bounds")
        budget.spend(info.st_size, label)
        os.set_blocking(fd, True)
        result = _feed(git.store_command(store, "index-pack", "--stdin"), fd, info.st_size)
    finally:
        os.close(fd)
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


def _write_refs(store: Path, snapshot: CloneSnapshot) -> None:
    """The store's refs are the clone's, as read: packed-refs and HEAD, nothing loose."""
    lines = [b"# pack-refs with: sorted\n"]
    lines += [
        f"{oid} refs/heads/{name}\n".encode() for name, oid in sorted(snapshot.branches.items())
    ]
    _write(store / "packed-refs", b"".join(lines))
    if snapshot.head_branch is not None:
        _write(store / "HEAD", f"ref: refs/heads/{snapshot.head_branch}\n".encode())
    else:
        _write(store / "HEAD", f"{snapshot.detached}\n".encode())
