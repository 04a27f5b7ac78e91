"""Where each branch of a clone lands on the host, decided before anything moves.

The host repo is looked at once (:func:`look_at`: its branches, the names its other
refs answer to, the branches checked out or that are symbolic refs); each branch's
:class:`Plan` then says whether it makes a branch of its own name, fast-forwards the
host's, or lands under ``scad/<run-id>/`` (:mod:`scad.code.fetch` says when and why).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import msgspec

from . import git, hostrepo

__all__ = ["Action", "Host", "Plan", "landing", "look_at", "plan_branch"]

#: new: created on the host under its name; updated: fast-forwarded; diverged,
#: checked-out, aliased (a symbolic ref on the host), misleading (a name that could
#: pass for another ref) and refused (git would not update it): landed under
#: ``scad/<run-id>/``; current: the host has it (or the branch holds nothing beyond
#: the host's default branch, so it makes no branch there).
Action = Literal[
    "new",
    "updated",
    "diverged",
    "checked-out",
    "aliased",
    "misleading",
    "refused",
    "kept",
    "current",
]
#: First parts of a branch name that git or scad read as something else.
RESERVED = frozenset({"refs", "heads", "tags", "remotes", "scad", "HEAD"})
#: Names git reads as a special ref (``ORIG_HEAD``) or as a commit id.
_SPECIAL = re.compile(r"[A-Z_]*HEAD|[0-9a-fA-F]{4,64}")


class Host(msgspec.Struct, frozen=True, kw_only=True):
    tips: dict[str, str]
    #: Branches checked out in any worktree, case folded.
    checked_out: set[str]
    #: Branches that are symbolic refs, and the ref each ends at.
    aliases: dict[str, str]
    default: str
    remotes: set[str]
    #: Every name a ref of the host's answers to besides a branch (``v1``, ``origin/main``).
    names: set[str]
    #: The run's own branch: the one ``scad-*`` name it may bring under its name.
    own: str
    #: The commit "ahead" counts from (see :func:`scad.code.hostrepo.default_tip`).
    base: str | None

    def misleading(self, branch: str) -> bool:
        """Whether a branch of this name would read as another ref, or as another run's:
        git resolves ``origin/main`` to ``refs/heads/origin/main`` before the
        remote-tracking branch, and a tag or ``ORIG_HEAD`` after a branch of that name."""
        first = branch.split("/", 1)[0]
        return (
            first in RESERVED
            or branch in self.names
            or ("/" in branch and first in self.remotes)
            or bool(_SPECIAL.fullmatch(branch))
            or (branch.startswith("scad-") and branch != self.own)
        )

    def is_checked_out(self, branch: str) -> bool:
        return branch.casefold() in self.checked_out

    @property
    def default_branch(self) -> str | None:
        return None if self.default == "(detached)" else self.default


async def look_at(host_repo: Path, own: str) -> Host:
    all_refs = await hostrepo.refs(host_repo)
    remotes = set((await git.git(host_repo, "remote")).split())
    names = set(remotes)
    for ref in all_refs:
        rest = ref.removeprefix("refs/")
        space, _, short = rest.partition("/")
        names.add(rest)  # refs/x/y answers to x/y
        if space in ("tags", "remotes"):
            names.add(short)
    return Host(
        tips=hostrepo.heads(all_refs),
        checked_out={b.casefold() for b in await hostrepo.checked_out_branches(host_repo)},
        aliases=await hostrepo.symbolic_branches(host_repo),
        default=await hostrepo.current_branch(host_repo),
        remotes=remotes,
        names=names,
        own=own,
        base=await hostrepo.default_tip(host_repo),
    )


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    branch: str
    commit: str
    action: Action
    target: str | None
    alias_of: str | None = None


async def plan_branch(store: Path, run_id: str, branch: str, tip: str, host: Host) -> Plan:
    """Where ``branch`` (at ``tip``) goes on the host, decided before anything moves."""
    hosts = host.tips.get(branch)
    # Only work comes home: a branch with nothing beyond the host's (or beyond its
    # default branch, as a run's branch that saw no commit) makes no branch there.
    have = [hosts] if hosts is not None else [host.base] if host.base else []
    if have and not await git.count_commits(store, [tip], have):
        return Plan(branch=branch, commit=tip, action="current", target=None)
    if branch == "HEAD":
        action: Action = "diverged"
    elif host.misleading(branch):
        action = "misleading"
    elif branch in host.aliases:
        action = "aliased"
    elif host.is_checked_out(branch):
        action = "checked-out"
    elif hosts is None:
        return Plan(branch=branch, commit=tip, action="new", target=branch)
    elif not await git.count_commits(store, [hosts], [tip]):
        return Plan(branch=branch, commit=tip, action="updated", target=branch)
    else:
        action = "diverged"
    return Plan(
        branch=branch,
        commit=tip,
        action=action,
        target=await landing(store, run_id, branch, tip, host),
        alias_of=host.aliases.get(branch) if action == "aliased" else None,
    )


async def landing(store: Path, run_id: str, branch: str, tip: str, host: Host) -> str:
    """``scad/<run-id>/<branch>``, unless that holds commits ``tip`` lacks (the
    agent rewrote the branch since it last landed): then a name of its own."""
    name = f"scad/{run_id}/{'detached' if branch == 'HEAD' else branch}"
    there = host.tips.get(name)
    if there is None or not await git.count_commits(store, [there], [tip]):
        return name
    return f"{name}-{tip[:8]}"
