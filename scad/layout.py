"""A run's container as scad lays it out: where its files are seen, and who the agent
is. Pure: the image, the container spec, Claude's settings and the code flow all
build on these."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

__all__ = [
    "AGENT_HOME",
    "AGENT_USER",
    "CLAUDE_DIR",
    "CLAUDE_JSON",
    "MARKETPLACES",
    "WORKSPACE",
    "agent_ids",
    "agent_owner",
]

AGENT_USER = "agent"
AGENT_HOME = "/home/agent"
#: Where the run's clones are, one folder per repo key.
WORKSPACE = PurePosixPath("/workspace")
MARKETPLACES = PurePosixPath("/opt/scad/marketplaces")
CLAUDE_DIR = f"{AGENT_HOME}/.claude"
CLAUDE_JSON = f"{AGENT_HOME}/.claude.json"


def agent_ids(host_uid: int, host_gid: int) -> tuple[int, int]:
    """The agent's uid/gid: the host user's, so clones stay theirs.

    A root host (uid 0) cannot lend its id: agents must not run as root
    (Claude refuses to skip permissions as root), so they get 1000; root on
    the host can still read and write what they make.
    """
    if host_uid == 0:
        return 1000, 1000
    return host_uid, host_gid


def agent_owner() -> tuple[int, int] | None:
    """Who must own the files the agent writes to, when that is not this process's user."""
    uid, gid = os.getuid(), os.getgid()
    agent = agent_ids(uid, gid)
    return None if agent == (uid, gid) else agent
