"""A run's Claude state packed for a remote run: only the agent's regular files go."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from scad.gateway._statearchive import pack_state
from tests.unit.planted_nodes import NODES, Opens, PlantNode


@pytest.mark.parametrize("plant", NODES)
def test_a_device_or_fifo_at_claude_json_is_left_out_unopened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plant: PlantNode
) -> None:
    (tmp_path / "claude").mkdir()
    (tmp_path / "claude" / "settings.json").write_text("{}\n")
    opens = Opens(plant(tmp_path / "claude.json"), monkeypatch)
    out = io.BytesIO()
    pack_state(tmp_path, out)
    out.seek(0)
    with tarfile.open(fileobj=out, mode="r:") as archive:
        assert archive.getnames() == ["claude", "claude/settings.json"]
    assert opens.flags and opens.for_io == []
