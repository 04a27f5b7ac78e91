"""Fencing a run's container reads the route-cutting script off the event loop."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scad.errors import EngineError
from scad.runs import fence
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio


async def test_the_cut_s_script_is_read_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_on_loop: list[Path] = []
    read_text = Path.read_text

    def watched(path: Path, *args: object, **kwargs: object) -> str:
        if threading.current_thread() is threading.main_thread():
            read_on_loop.append(path)
        return read_text(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", watched)
    engine = FakeEngine(fail={"create_container": EngineError("refused")})
    for _ in range(2):
        with pytest.raises(EngineError, match="refused"):
            await fence.fence_container(engine, "c" * 64, "image")  # type: ignore[arg-type]
    assert read_on_loop == []
