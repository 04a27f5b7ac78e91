"""An interactive session counted and shown from Claude's transcripts: real engine, real
image, real Claude Code in tmux, the offline model."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .sessions_support import Project, git_log, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

PROMPT = (
    "TOKENS: 1000 50\n"
    "RUN: echo hi > hi.txt && git add hi.txt && git commit -qm 'interactive commit'\n"
    "SAY: interactive done"
)


async def test_an_interactive_session_counts_its_turns_and_shows_its_tool_calls(
    project: Project,
) -> None:
    run_id = await project.start("--tag", "tty", "--prompt", PROMPT)
    await wait_until(lambda: git_log(project.clone(run_id))[0] == "interactive commit")
    status: dict[str, Any] = {}

    async def answered() -> bool:
        nonlocal status
        out = (await project.scad("session", "status", "--json")).stdout
        [status] = [s for s in json.loads(out)["sessions"] if s["run_id"] == run_id]
        return int(status["summary"]["turns"]) >= 2  # the tool call, then the answer

    await wait_until(answered, timeout=90)
    summary = status["summary"]
    assert summary["tool_calls"] == 1 and summary["cost_estimated"] is True
    assert summary["cost_usd"] > 0 and summary["usage"]["input_tokens"] >= 2000
    assert summary["last_activity"] is not None

    info = json.loads((await project.scad("session", "info", run_id, "--json")).stdout)
    assert info["summary"]["turns"] == summary["turns"] and info["summary"]["cost_estimated"]
    assert info["summary"]["cost_usd"] == pytest.approx(summary["cost_usd"])

    logs = (await project.scad("session", "logs", run_id)).stdout
    assert "→ Bash: echo hi > hi.txt && git add hi.txt" in logs
    assert "interactive done" in logs
