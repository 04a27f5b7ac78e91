"""Writing a run's branches into the host repo, one fetch by commit id each.

A fetch never forces: git refuses an update that stopped being a fast-forward since
it was planned (:mod:`._landing`), and a branch refused under its own name lands under
``scad/<run-id>/`` instead. The host's branch is looked at again right before each
write (:func:`unwritable`); :mod:`scad.code.fetch` says why.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from . import git, hostrepo
from ._landing import Action, Host, Plan, landing

__all__ = ["bring", "fetched", "unwritable"]


async def bring(
    host_repo: Path, store: Path, run_id: str, plans: list[Plan], host: Host
) -> tuple[list[Plan], list[str]]:
    """Fetch each plan's commit to its target, one branch at a time; a branch git
    will not update under its own name lands under ``scad/<run-id>/`` instead.
    Returns the plans as they landed, and the branches that could not land at all
    (each with why, when scad knows)."""
    landed, refused = [], []
    for plan in plans:
        if plan.target is None:
            landed.append(plan)
            continue
        why = await unwritable(host_repo, plan.target, host)
        if why is None and await fetched(host_repo, store, plan.commit, plan.target):
            landed.append(plan)
            continue
        if plan.target == plan.branch:
            apart = await landing(store, run_id, plan.branch, plan.commit, host)
            why = await unwritable(host_repo, apart, host)
            if why is None and await fetched(host_repo, store, plan.commit, apart):
                alias_of = await hostrepo.branch_alias(host_repo, plan.branch)
                action: Action = (
                    "aliased"
                    if alias_of
                    else "checked-out"
                    if host.is_checked_out(plan.branch)
                    else "refused"
                )
                landed.append(
                    msgspec.structs.replace(plan, action=action, target=apart, alias_of=alias_of)
                )
                continue
        refused.append(f"{plan.branch} ({why})" if why else plan.branch)
    return landed, refused


async def unwritable(host_repo: Path, target: str, host: Host) -> str | None:
    """Why the host's branch ``target`` must not be written, looked at right before
    the write; None when it may be."""
    if alias_of := await hostrepo.branch_alias(host_repo, target):
        return f"{target} is a symbolic ref to {alias_of} on the host"
    if host.is_checked_out(target):
        return f"{target} is checked out on the host"
    return None


async def fetched(host_repo: Path, store: Path, commit: str, target: str) -> bool:
    """Whether the host's ``target`` holds ``commit`` after fetching it there."""
    ref = f"refs/heads/{target}"
    await git.git(
        host_repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
        "--no-recurse-submodules", str(store), f"{commit}:{ref}", check=False,
    )  # fmt: skip
    now = await git.git(host_repo, "rev-parse", "--verify", "--quiet", ref, check=False)
    return now.strip() == commit
