"""The gateway process's own bounds: descriptors, and what it writes to its log."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from scad.gateway import _lifecycle
from scad.gateway._lifecycle import set_log_aside
from scad.gateway.process import AcceptShortageReport


def test_the_gateway_takes_every_descriptor_it_may() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip("no finite hard limit above the one set here")

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource; from scad.gateway.process import raise_descriptor_limit; "
            "raise_descriptor_limit(); print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])",
        ],
        preexec_fn=lower,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert int(shown.stdout) == hard


def test_a_flood_of_failed_accepts_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    report = AcceptShortageReport()
    loop = asyncio.new_event_loop()
    try:
        for _ in range(1000):
            report(
                loop,
                {
                    "message": "socket.accept() out of system resource",
                    "exception": OSError(24, "Too many open files"),
                },
            )
    finally:
        loop.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "Too many open files" in lines[0]


def test_a_large_log_is_set_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lifecycle, "LOG_LIMIT", 10)
    log = tmp_path / "gateway.log"
    (tmp_path / "gateway.log.1").write_text("oldest")
    log.write_text("x" * 11)
    set_log_aside(log)
    assert not log.exists() and (tmp_path / "gateway.log.1").read_text() == "x" * 11
    log.write_text("small")
    set_log_aside(log)
    assert log.read_text() == "small"
