"""Fixtures the unit tests of clones share."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.clones import create_clone
from scad.image import agent_owner


@pytest.fixture
async def clone(repo: Path, tmp_path: Path) -> Path:
    """A run's clone of ``repo`` on branch ``scad-r``, handed to the agent's uid."""
    dest = tmp_path / "run" / "worktrees" / "code"
    dest.parent.mkdir(parents=True)
    await create_clone(repo, dest, "scad-r", owner=agent_owner())
    return dest
