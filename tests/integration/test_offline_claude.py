"""The offline model driving the real Claude Code binary on the host."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from scad.offline import OfflineModel, serve_offline_model
from tests.conftest import make_repo

pytestmark = [pytest.mark.anyio, pytest.mark.claude]


class ClaudeRun:
    def __init__(self, returncode: int, stdout: str) -> None:
        self.returncode = returncode
        self.events: list[dict[str, Any]] = [
            json.loads(line) for line in stdout.splitlines() if line.strip()
        ]

    def of_type(self, kind: str, subtype: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("type") == kind and (subtype is None or e.get("subtype") == subtype)
        ]

    @property
    def result(self) -> dict[str, Any]:
        (result,) = self.of_type("result")
        return result


async def run_claude(
    binary: Path, model: OfflineModel, prompt: str, cwd: Path, home: Path
) -> ClaudeRun:
    """`claude -p PROMPT --output-format stream-json --verbose` against the offline model."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": model.url,
        "ANTHROPIC_API_KEY": "offline-test-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "IS_SANDBOX": "1",  # the tests may run as root
    }
    command = [
        str(binary),
        "-p",
        prompt,
        "--output-format",
        "stream-json",
        "--verbose",
        "--dangerously-skip-permissions",
    ]
    with anyio.fail_after(120):
        result = await anyio.run_process(
            command, cwd=cwd, env=env, check=False, stdin=subprocess.DEVNULL
        )
    return ClaudeRun(result.returncode, result.stdout.decode())


def commits(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%s"], capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


async def test_run_directives_commit_and_stream_every_event(
    claude_binary: Path, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    prompt = (
        "Make a commit.\n"
        "RUN: echo agent > agent.txt && git add agent.txt && git -c user.name=a -c user.email=a@a commit -qm 'agent commit'\n"
        "SAY: committed\n"
        "RUN: git log --oneline | wc -l\n"
        "SAY: all done"
    )
    async with serve_offline_model() as model:
        run = await run_claude(claude_binary, model, prompt, repo, tmp_path / "home")
    assert run.returncode == 0
    assert commits(repo) == ["agent commit", "init"]
    assert run.of_type("system", "init")[0]["session_id"] == run.result["session_id"]
    tool_uses = [
        b
        for e in run.of_type("assistant")
        for b in e["message"]["content"]
        if b["type"] == "tool_use"
    ]
    assert [t["input"]["command"] for t in tool_uses] == [
        "echo agent > agent.txt && git add agent.txt && git -c user.name=a -c user.email=a@a commit -qm 'agent commit'",
        "git log --oneline | wc -l",
    ]
    results = [
        b
        for e in run.of_type("user")
        for b in e["message"]["content"]
        if b["type"] == "tool_result"
    ]
    assert len(results) == 2 and "2" in str(results[1]["content"])
    assert run.result["subtype"] == "success" and run.result["is_error"] is False
    assert run.result["num_turns"] == 3
    assert run.result["result"] == "all done"
    assert model.requests == 3


async def test_tokens_show_in_usage(claude_binary: Path, tmp_path: Path) -> None:
    async with serve_offline_model() as model:
        run = await run_claude(
            claude_binary, model, "TOKENS: 1234 56\nSAY: counted", tmp_path, tmp_path / "home"
        )
    assert run.result["usage"]["input_tokens"] == 1234
    assert run.result["usage"]["output_tokens"] == 56
    assert run.result["total_cost_usd"] > 0


async def test_sleep_delays_the_result(claude_binary: Path, tmp_path: Path) -> None:
    async with serve_offline_model() as model:
        run = await run_claude(
            claude_binary, model, "SLEEP: 2\nSAY: rested", tmp_path, tmp_path / "home"
        )
    assert run.result["result"] == "rested"
    assert run.result["duration_ms"] >= 2000


async def test_a_429_is_retried_by_claude_and_the_run_succeeds(
    claude_binary: Path, tmp_path: Path
) -> None:
    """Claude Code retries a 429 by itself, reporting it as one `api_retry` line."""
    async with serve_offline_model() as model:
        run = await run_claude(
            claude_binary, model, "FAIL: 429 x1\nSAY: after retry", tmp_path, tmp_path / "home"
        )
    retries = run.of_type("system", "api_retry")
    assert [(r["attempt"], r["error_status"], r["error"]) for r in retries] == [
        (1, 429, "rate_limit")
    ]
    assert run.returncode == 0
    assert run.result["is_error"] is False and run.result["result"] == "after retry"
    assert (model.requests, model.errors) == (2, 1)


async def test_twenty_claudes_share_one_server(claude_binary: Path, tmp_path: Path) -> None:
    runs: dict[int, ClaudeRun] = {}

    async def one(n: int) -> None:
        workdir = tmp_path / f"w{n}"
        workdir.mkdir()
        prompt = f"RUN: echo {n} > n.txt\nSAY: answer-{n}"
        runs[n] = await run_claude(claude_binary, model, prompt, workdir, tmp_path / f"home{n}")

    async with serve_offline_model() as model, anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(one, n)
    assert sorted(runs) == list(range(20))
    for n, run in runs.items():
        assert run.returncode == 0, run.events[-1:]
        assert run.result["result"] == f"answer-{n}"
        assert (tmp_path / f"w{n}" / "n.txt").read_text() == f"{n}\n"
    assert model.requests == 40


@pytest.mark.parametrize("status", [402, 403, 413])
async def test_a_refusal_claude_does_not_retry_fails_the_run_at_once(
    claude_binary: Path, tmp_path: Path, status: int
) -> None:
    """The quick scripted failure: one request, no retry, an error result."""
    async with serve_offline_model() as model:
        run = await run_claude(
            claude_binary, model, f"FAIL: {status}\nSAY: never", tmp_path, tmp_path / "home"
        )
    assert run.returncode == 1
    assert run.result["is_error"] is True
    assert run.result["api_error_status"] == status
    assert not run.of_type("system", "api_retry")
    assert (model.requests, model.errors) == (1, 1)


async def test_a_command_that_fails_is_not_a_failed_run(
    claude_binary: Path, tmp_path: Path
) -> None:
    """A tool's non-zero exit goes back to the model as a result; the run goes on."""
    async with serve_offline_model() as model:
        run = await run_claude(
            claude_binary, model, "RUN: exit 3\nSAY: carried on", tmp_path, tmp_path / "home"
        )
    (tool_result,) = [
        block
        for event in run.of_type("user")
        for block in event["message"]["content"]
        if block.get("type") == "tool_result"
    ]
    assert tool_result["is_error"] is True
    assert run.returncode == 0
    assert run.result["is_error"] is False and run.result["result"] == "carried on"
    assert model.requests == 2
