"""A clean checkout of a commit, written by git from a repository scad owns.

git reads the commit's tree in scad's repository (a run's store or the host repo)
into an index file of scad's and writes it into a new, empty folder: nothing of an
agent's clone is read, and no file that was there before is written through. The
index is where pins are applied, so a pinned path is never written twice: a link
the judged commit put at ``tests`` is replaced by the base's ``tests/``, not
followed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio

from ..code import git
from ..code.clones import chown_tree
from ..errors import GitError, ScadError
from ..layout import agent_owner
from .pins import TreeEntry, changed_pins, parse_tree, pinned_tree

__all__ = [
    "MAX_CHECKOUT_BYTES",
    "MAX_CHECKOUT_FILES",
    "MAX_LISTING_BYTES",
    "CheckoutRefused",
    "write_checkout",
]

#: What one checkout may hold: the judged commit is an agent's, and a tree of a few
#: kilobytes can name gigabytes.
MAX_CHECKOUT_FILES = 200_000
MAX_CHECKOUT_BYTES = 4 << 30
#: What is read of a tree's listing: a tree of a few hundred bytes, each of its
#: folders the same folder, can list a billion files.
MAX_LISTING_BYTES = 32 << 20


class CheckoutRefused(ScadError):
    """Raised when a commit cannot be checked out for a check (in one line, why)."""


async def write_checkout(
    git_dir: Path, commit: str, base: str | None, pins: list[str], dest: Path
) -> list[str]:
    """Write ``commit``'s files into the new folder ``dest``, its pinned paths as
    ``base`` has them; returns the pins whose files the commit changed. The files
    are handed to the agent's user when that is not scad's. Raises CheckoutRefused."""
    try:
        git_dir = await _repository(git_dir)
        judged = await _tree(git_dir, commit)
        changed: list[str] = []
        if pins and base is not None:
            base_tree = await _tree(git_dir, base)
            changed = changed_pins(judged, base_tree, pins)
            judged = pinned_tree(judged, base_tree, pins)
        _check_size(judged, commit)
        dest.mkdir(mode=0o700)
        with tempfile.TemporaryDirectory(prefix="scad-index-") as folder:
            index = Path(folder) / "index"
            await _git(
                git_dir,
                "update-index",
                "-z",
                "--index-info",
                input=_index_info(judged),
                index=index,
            )
            await _git(git_dir, "--work-tree", str(dest), "checkout-index", "--all", index=index)
    except GitError as exc:
        raise CheckoutRefused(f"{commit[:12]} cannot be checked out: {exc}") from None
    if (owner := agent_owner()) is not None:
        await anyio.to_thread.run_sync(chown_tree, dest, owner)
    return changed


async def _repository(git_dir: Path) -> Path:
    """The git folder of a host repo's work tree; a bare repository is its own."""
    if (git_dir / ".git").exists():
        return Path((await git.git(git_dir, "rev-parse", "--absolute-git-dir")).strip())
    return git_dir


async def _tree(git_dir: Path, commit: str) -> list[TreeEntry]:
    listing = await git.store_git_bounded(
        git_dir, "ls-tree", "-r", "-l", "-z", "--full-tree", f"{commit}^{{tree}}",
        limit=MAX_LISTING_BYTES, line_end=b"\0",
    )  # fmt: skip
    if listing.cut:
        raise CheckoutRefused(
            f"{commit[:12]} names more files than are checked out "
            f"(their listing is over {MAX_LISTING_BYTES >> 20} MiB)"
        )
    return parse_tree(listing.data)


async def _git(
    git_dir: Path, *args: str, input: bytes | None = None, index: Path | None = None
) -> bytes:
    """git in a repository scad owns, with no configuration but its own."""
    return await git.store_git_bytes(git_dir, *args, input=input, index=index)


def _index_info(entries: list[TreeEntry]) -> bytes:
    return b"".join(
        f"{e.mode} {e.kind} {e.oid}\t".encode() + e.path.encode("utf-8", "surrogateescape") + b"\0"
        for e in entries
    )


def _check_size(entries: list[TreeEntry], commit: str) -> None:
    if len(entries) > MAX_CHECKOUT_FILES:
        raise CheckoutRefused(
            f"{commit[:12]} holds {len(entries)} files, more than the {MAX_CHECKOUT_FILES} checked out"
        )
    if (size := sum(e.size for e in entries)) > MAX_CHECKOUT_BYTES:
        raise CheckoutRefused(
            f"{commit[:12]} holds {size >> 20} MiB of files, more than the {MAX_CHECKOUT_BYTES >> 20} MiB checked out"
        )
