"""The fetch command scad suggests for a clone's branch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scad.clones import fetch_command


def test_a_clone_of_ones_own_is_fetched_plainly(tmp_path: Path) -> None:
    clone = tmp_path / "my clone"
    clone.mkdir()
    assert fetch_command(tmp_path / "repo", clone, "scad-r") == (
        f"git -C {tmp_path}/repo fetch '{clone}' scad-r:scad-r"
    )


@pytest.mark.skipif(os.getuid() != 0, reason="only root can give a folder to another user")
def test_a_clone_the_agent_owns_is_named_safe_for_upload_pack(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    os.chown(clone, 1000, 1000)
    assert fetch_command(tmp_path / "repo", clone, "scad-r") == (
        f"git -C {tmp_path}/repo fetch '--upload-pack=git -c safe.directory=* upload-pack' "
        f"{clone} scad-r:scad-r"
    )
