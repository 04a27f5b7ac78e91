"""Starting the gateway keeps its file work off the event loop: every session start
and batch goes through it while other runs stream."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scad.errors import GatewayError
from scad.gateway import _lifecycle
from scad.home import Home

pytestmark = pytest.mark.anyio


class _EndedAtOnce:
    pid = 1

    def poll(self) -> int:
        return 1


async def test_a_gateway_start_reads_locks_and_spawns_on_worker_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_loop: list[str] = []

    def watched(name: str, result: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: object) -> Any:
            if threading.current_thread() is threading.main_thread():
                on_loop.append(name)
            return result(*args)

        return call

    monkeypatch.setattr(_lifecycle, "_lock_held", watched("lock", lambda _paths: False))
    monkeypatch.setattr(
        _lifecycle, "_start_process", watched("spawn", lambda *_args: _EndedAtOnce())
    )
    monkeypatch.setattr(_lifecycle, "last_line", watched("log", lambda _path: "no credential"))
    with pytest.raises(GatewayError, match="ended at once: no credential"):
        await _lifecycle.ensure_gateway(Home(tmp_path / "home"))
    assert on_loop == []


def test_a_gateway_killed_and_not_yet_reaped_is_not_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway killed under the process that started it lingers as a zombie; its
    state names a pid that still exists. It is not the home's gateway: a new one
    holding the lock before it wrote its own state must not be taken for it."""
    import signal
    import subprocess

    from scad.gateway._lifecycle import GatewayInfo

    child = subprocess.Popen(["sleep", "600"])
    try:
        child.send_signal(signal.SIGKILL)
        # Not reaped: wait for the kernel to mark it a zombie, as `ps` shows it.
        stat = Path(f"/proc/{child.pid}/stat")
        for _ in range(1000):
            if stat.read_bytes().rpartition(b")")[2].split()[:1] == [b"Z"]:
                break
            threading.Event().wait(0.01)
        stale = GatewayInfo(
            pid=child.pid, port=1, addresses=["127.0.0.1"], started="", credential="api-key"
        )
        monkeypatch.setattr(_lifecycle, "_lock_held", lambda _paths: True)  # a new one's lock
        monkeypatch.setattr(_lifecycle, "read_state", lambda _paths: stale)
        assert _lifecycle.gateway_info(Home(tmp_path)) is None
    finally:
        child.wait()
