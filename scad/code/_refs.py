"""Reading a clone's refs as data: HEAD, its branches, and the ids everything else
in ``.git`` keeps (other refs, pseudo refs, reflogs). Never through git, never
following a link (:mod:`scad.agentfs`), within bounds on bytes, counts and depth."""

from __future__ import annotations

import contextlib
import re
import stat
from collections.abc import Callable

from .. import agentfs
from ..errors import AgentFileError, AgentFileMissing
from ..text import printable

__all__ = ["read_branches", "read_head", "read_kept", "read_packed", "valid_branch"]

#: Bounds on what an agent's ``.git`` may make scad read.
REF_FILE_LIMIT = 4096
PACKED_REFS_LIMIT = 64 << 20
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
_BAD_REF = re.compile(
    r"[\x00-\x20\x7f-\x9f~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.$|^\.|/\.|\.lock$|\.lock/"
)


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


def read_head(git_fd: int) -> tuple[str | None, str | None]:
    text = agentfs.read_file_at(git_fd, "HEAD", limit=REF_FILE_LIMIT, label=".git/HEAD").strip()
    if text.startswith(b"ref: refs/heads/"):
        name = text.removeprefix(b"ref: refs/heads/").decode(errors="replace")
        if not valid_branch(name):
            raise AgentFileError(".git/HEAD", f"names {name!r}, not a branch git accepts")
        return name, None
    if _OID.fullmatch(text):
        return None, text.decode()
    raise AgentFileError(".git/HEAD", "is neither a branch nor a commit id")


def read_packed(git_fd: int) -> bytes:
    try:
        return agentfs.read_file_at(
            git_fd, "packed-refs", limit=PACKED_REFS_LIMIT, label=".git/packed-refs"
        )
    except AgentFileMissing:
        return b""


def read_branches(git_fd: int, data: bytes, refused: dict[str, str]) -> dict[str, str]:
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
    with (
        contextlib.suppress(AgentFileMissing),
        agentfs.open_folder("refs/heads", dir_fd=git_fd) as heads,
    ):
        _read_loose(heads, "", loose, refused, depth=0)
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


def read_kept(git_fd: int, packed: bytes) -> set[str]:
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
    except AgentFileMissing:
        return None


def _open_if_there(stack: contextlib.ExitStack[bool | None], parent: int, name: str) -> int | None:
    try:
        return stack.enter_context(agentfs.open_folder(name, dir_fd=parent))
    except AgentFileMissing:
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
