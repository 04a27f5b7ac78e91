"""What scad asks of a user's host repo: whether a folder is one (and its top), its
checked-out branch, branches and refs, the identity its user commits as, whether
its work tree has changes, where its objects are and which commit is its default.

Each question is one git command run by :func:`.git.git`, with the user's own
configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .git import git

__all__ = [
    "branch_alias",
    "branch_tips",
    "checked_out_branches",
    "current_branch",
    "default_tip",
    "heads",
    "host_identity",
    "is_dirty",
    "is_repository",
    "objects_folder",
    "refs",
    "symbolic_branches",
    "top_level",
    "uncommitted_files",
]


async def is_repository(path: Path) -> bool:
    if not path.is_dir():
        return False
    out = await git(path, "rev-parse", "--is-inside-work-tree", check=False)
    return out.strip() == "true"


async def top_level(path: Path) -> Path | None:
    """The top folder of the host work tree ``path`` is in; None outside any (or in a
    bare repository or a ``.git`` folder)."""
    if not path.is_dir():
        return None
    out = (await git(path, "rev-parse", "--show-toplevel", check=False)).strip()
    return Path(out) if out else None


async def current_branch(repo: Path) -> str:
    """The checked-out branch, or ``(detached)``."""
    # Not ``--short``: beside a tag of the same name, it says ``heads/main``.
    out = (await git(repo, "symbolic-ref", "--quiet", "HEAD", check=False)).strip()
    return out.removeprefix("refs/heads/") if out.startswith("refs/heads/") else "(detached)"


#: Who a clone's commits are by when the host repo's user has no name or email.
DEFAULT_IDENTITY = ("scad agent", "agent@scad.invalid")


async def host_identity(host_repo: Path) -> tuple[str, str]:
    """The name and email the host repo's user commits as (scad's own when unset)."""
    found = await git(host_repo, "config", "--get-regexp", r"^user\.(name|email)$", check=False)
    values = dict(line.split(" ", 1) for line in found.splitlines() if " " in line)
    return (
        values.get("user.name", "").strip() or DEFAULT_IDENTITY[0],
        values.get("user.email", "").strip() or DEFAULT_IDENTITY[1],
    )


async def is_dirty(repo: Path) -> bool:
    return bool((await git(repo, "status", "--porcelain", "--untracked-files=normal")).strip())


async def uncommitted_files(repo: Path) -> int:
    """How many files of the host work tree ``repo`` differ from its last commit:
    changed, staged or new (not ignored); 0 when git cannot tell."""
    out = await git(
        repo, "--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames",
        "--ignore-submodules=none", check=False,
    )  # fmt: skip
    return out.count("\0")


async def branch_tips(repo: Path) -> dict[str, str]:
    """The host repo's branches (name without ``refs/heads/``) and their commits."""
    return heads(await refs(repo, "refs/heads/"))


async def refs(repo: Path, *patterns: str) -> dict[str, str]:
    """The host repo's refs (full names) and their objects; those under ``patterns``
    when given."""
    out = await git(repo, "for-each-ref", "--format=%(objectname) %(refname)", *patterns)
    return {ref: oid for oid, _, ref in (line.partition(" ") for line in out.splitlines())}


def heads(all_refs: Mapping[str, str]) -> dict[str, str]:
    """The branches among ``all_refs`` (as :func:`refs` gives them), by short name."""
    prefix = "refs/heads/"
    return {
        ref.removeprefix(prefix): oid for ref, oid in all_refs.items() if ref.startswith(prefix)
    }


async def branch_alias(repo: Path, branch: str) -> str | None:
    """The ref the host's ``branch`` ends at when it is a symbolic ref (one that names
    a missing ref too), else None: a write to it would go to that ref instead."""
    out = await git(repo, "symbolic-ref", "--quiet", f"refs/heads/{branch}", check=False)
    return out.strip() or None


async def symbolic_branches(repo: Path) -> dict[str, str]:
    """The host repo's branches that are symbolic refs (``master -> main``), by short
    name, with the ref each ends at (git follows a chain to its end). One that names
    a missing ref is not listed: git skips it."""
    out = await git(repo, "for-each-ref", "--format=%(symref) %(refname)", "refs/heads/")
    found = (line.partition(" ") for line in out.splitlines())
    return {ref.removeprefix("refs/heads/"): target for target, _, ref in found if target}


async def checked_out_branches(repo: Path) -> set[str]:
    """Branches checked out in the repo or any of its linked worktrees: updating one
    would leave that working tree out of step with its branch."""
    out = await git(repo, "worktree", "list", "--porcelain")
    return {
        line.removeprefix("branch refs/heads/")
        for line in out.splitlines()
        if line.startswith("branch refs/heads/")
    }


async def objects_folder(repo: Path) -> Path:
    """The object folder of a host repo (a linked worktree's is its main repo's)."""
    out = await git(repo, "rev-parse", "--path-format=absolute", "--git-path", "objects")
    return Path(out.strip())


async def default_tip(repo: Path) -> str | None:
    """The commit of the branch HEAD names in the host repo, else of ``main`` or
    ``master``; None when there is none (no repository, an unborn branch)."""
    if not await is_repository(repo):
        return None
    head = (await git(repo, "symbolic-ref", "--quiet", "HEAD", check=False)).strip()
    for ref in dict.fromkeys([head, "refs/heads/main", "refs/heads/master"]):
        if ref and (tip := await _commit_of(repo, ref)):
            return tip
    return None


async def _commit_of(repo: Path, ref: str) -> str | None:
    out = await git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return out.strip() or None
