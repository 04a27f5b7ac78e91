"""The one place scad runs git.

Clones are written by agents, so their git config is untrusted: every command
runs with hooks and fsmonitor disabled and without the system config, so nothing
an agent planted in a clone executes on the host.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import anyio

from .errors import GitError

__all__ = ["current_branch", "git", "is_dirty", "is_repository"]

_SAFE_OPTIONS = (
    # Clones may be owned by the agent's uid rather than the host user's.
    "-c", "safe.directory=*",
    "-c", "core.fsmonitor=false",
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.sshCommand=false",
    "-c", "protocol.ext.allow=never",
)  # fmt: skip


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return env


async def git(repo: Path, *args: str, check: bool = True, input: bytes | None = None) -> str:
    """Run ``git -C repo args`` (``input`` on stdin) and return its stdout; raises GitError."""
    command: Sequence[str] = ["git", *_SAFE_OPTIONS, "-C", str(repo), *args]
    if input is None:
        result = await anyio.run_process(
            command, check=False, env=_environment(), stdin=subprocess.DEVNULL
        )
    else:
        result = await anyio.run_process(command, check=False, env=_environment(), input=input)
    if check and result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        detail = message[-1] if message else f"exit code {result.returncode}"
        raise GitError(f"git {args[0]} in {repo} failed: {detail}")
    return result.stdout.decode(errors="replace")


async def is_repository(path: Path) -> bool:
    if not path.is_dir():
        return False
    out = await git(path, "rev-parse", "--is-inside-work-tree", check=False)
    return out.strip() == "true"


async def current_branch(repo: Path) -> str:
    """The checked-out branch, or ``(detached)``."""
    out = (await git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)).strip()
    return out or "(detached)"


async def is_dirty(repo: Path) -> bool:
    return bool((await git(repo, "status", "--porcelain", "--untracked-files=normal")).strip())
