"""The model gateway as a process of its own, with the real Claude Code on the host and
the offline model behind it: Claude holds only its run's token, the model API sees only
the host's key, and what the gateway measured is what the model answered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from scad.gateway import (
    BudgetRefused,
    Exchange,
    GatewayInfo,
    Registration,
    ensure_gateway,
    events_path,
    gateway_info,
    gateway_usage,
    register_run,
    revoke_run,
    stop_gateway,
)
from scad.gateway._events import read_gateway_events
from scad.home import Home
from scad.offline import OfflineModel

pytestmark = [pytest.mark.anyio, pytest.mark.claude]

HOST_SECRET = "sk-ant-host-secret-never-in-a-run"


class RecordingModel(OfflineModel):
    """The offline model, noting the credential each request reached it with."""

    def __init__(self) -> None:
        super().__init__("")
        self.credentials: list[str] = []

    @web.middleware
    async def note(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.credentials.append(
            request.headers.get("x-api-key") or request.headers.get("authorization", "")
        )
        response: web.StreamResponse = await handler(request)
        return response


@asynccontextmanager
async def recording_model() -> AsyncIterator[RecordingModel]:
    model = RecordingModel()
    app = web.Application(middlewares=[model.note])
    app.router.add_post("/v1/messages", model.handle_messages)
    app.router.add_post("/v1/messages/count_tokens", model.handle_count_tokens)
    app.router.add_route("*", "/{tail:.*}", model.handle_other)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        model.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield model
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    home = Home(tmp_path / "home")
    home.runs.mkdir(parents=True)
    yield home
    # The gateways these tests started, by their pid.
    info = gateway_info(home)
    if info is not None:
        os.kill(info.pid, signal.SIGKILL)


async def start_gateway(home: Home) -> GatewayInfo:
    return await ensure_gateway(home, environ={**os.environ, "ANTHROPIC_API_KEY": HOST_SECRET})


def registered(home: Home, model: RecordingModel, run_id: str, **limits: Any) -> Registration:
    home.run_dir(run_id).mkdir()
    return register_run(home, run_id, upstream=model.url, **limits)


def claude_command(binary: Path, prompt: str) -> list[str]:
    return [
        str(binary), "-p", prompt, "--output-format", "stream-json", "--verbose",
        "--dangerously-skip-permissions",
    ]  # fmt: skip


def claude_env(tmp_path: Path, gateway: GatewayInfo, token: str) -> dict[str, str]:
    """What a run's Claude gets: the gateway's address and its token, no key."""
    (tmp_path / "claude-home").mkdir(exist_ok=True)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "claude-home"),
        "ANTHROPIC_BASE_URL": gateway.url(),
        "ANTHROPIC_AUTH_TOKEN": token,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "IS_SANDBOX": "1",
    }


async def run_claude(
    binary: Path, tmp_path: Path, gateway: GatewayInfo, token: str, prompt: str
) -> tuple[int, list[dict[str, Any]]]:
    with anyio.fail_after(120):
        done = await anyio.run_process(
            claude_command(binary, prompt),
            cwd=tmp_path,
            env=claude_env(tmp_path, gateway, token),
            check=False,
            stdin=subprocess.DEVNULL,
        )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def result_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    (result,) = [e for e in events if e.get("type") == "result"]
    return result


async def test_claude_reaches_the_model_with_the_hosts_key_and_usage_is_measured(
    claude_binary: Path, tmp_path: Path, home: Home
) -> None:
    async with recording_model() as model:
        gateway = await start_gateway(home)
        run = registered(home, model, "run-a")
        code, events = await run_claude(
            claude_binary, tmp_path, gateway, run.token,
            "TOKENS: 1234 56\nRUN: echo through-the-gateway\nSAY: done",
        )  # fmt: skip
    result = result_of(events)
    assert code == 0 and result["is_error"] is False and result["result"] == "done"
    assert model.credentials and set(model.credentials) == {HOST_SECRET}
    assert model.requests == 2
    usage = gateway_usage([events_path(home, "run-a")])
    assert (usage.input_tokens, usage.output_tokens) == (2 * 1234, 2 * 56)
    assert (usage.input_tokens, usage.output_tokens) == (
        result["usage"]["input_tokens"],
        result["usage"]["output_tokens"],
    )
    exchanges = [
        e for e in read_gateway_events(events_path(home, "run-a")) if isinstance(e, Exchange)
    ]
    assert all(e.complete and e.status == 200 for e in exchanges if e.path == "/v1/messages")


async def test_a_spent_run_ends_with_the_402(
    claude_binary: Path, tmp_path: Path, home: Home
) -> None:
    async with recording_model() as model:
        gateway = await start_gateway(home)
        run = registered(home, model, "run-a", max_usd=0.01)
        code, events = await run_claude(
            claude_binary, tmp_path, gateway, run.token,
            "TOKENS: 100000 1000\nRUN: echo one\nRUN: echo two\nSAY: never",
        )  # fmt: skip
    result = result_of(events)
    assert code == 1 and result["is_error"] is True and result["api_error_status"] == 402
    assert model.requests == 1
    logged = list(read_gateway_events(events_path(home, "run-a")))
    refusals = [e for e in logged if isinstance(e, BudgetRefused)]
    assert len(refusals) == 1 and refusals[0].scope == "run" and refusals[0].cap_usd == 0.01


async def test_foreign_and_revoked_tokens_are_refused_by_the_gateway(
    tmp_path: Path, home: Home
) -> None:
    async with recording_model() as model:
        gateway = await start_gateway(home)
        a, b = registered(home, model, "run-a"), registered(home, model, "run-b")
        async with aiohttp.ClientSession() as client:

            async def status(token: str) -> int:
                async with client.post(
                    f"{gateway.url()}/v1/messages",
                    json={"stream": True, "messages": [{"role": "user", "content": "SAY: hi"}]},
                    headers={"authorization": f"Bearer {token}"},
                ) as response:
                    await response.read()
                    return response.status

            assert await status(a.token) == 200
            assert await status(f"run-a.{b.secret}") == 401
            assert await status(HOST_SECRET) == 401
            revoke_run(home, "run-a")
            assert await status(a.token) == 401
            assert await status(b.token) == 200
    assert model.requests == 2


async def test_one_gateway_per_home_found_again_and_restarted_on_its_port(home: Home) -> None:
    first = await start_gateway(home)
    again = await start_gateway(home)
    assert again == first
    os.kill(first.pid, signal.SIGKILL)
    with anyio.fail_after(10):
        while gateway_info(home) is not None:
            await anyio.sleep(0.05)
    second = await start_gateway(home)
    assert second.pid != first.pid and second.port == first.port
    assert await stop_gateway(home) is True
    assert gateway_info(home) is None


async def test_a_gateway_killed_mid_run_loses_nothing(
    claude_binary: Path, tmp_path: Path, home: Home
) -> None:
    """Killed while Claude runs its tool; Claude's next request meets a closed port,
    retries, and reaches the new gateway with the same token."""
    gate = tmp_path / "gate"
    prompt = (
        "TOKENS: 300 30\n"
        f"RUN: while [ ! -e {gate} ]; do sleep 0.05; done; echo released\n"
        "SAY: finished"
    )
    async with recording_model() as model:
        gateway = await start_gateway(home)
        run = registered(home, model, "run-a")
        lines: list[dict[str, Any]] = []
        retried = anyio.Event()
        async with await anyio.open_process(
            claude_command(claude_binary, prompt),
            cwd=tmp_path,
            env=claude_env(tmp_path, gateway, run.token),
            stdin=subprocess.DEVNULL,
        ) as claude:
            assert claude.stdout is not None

            async def read_lines() -> None:
                assert claude.stdout is not None
                pending = b""
                async for chunk in claude.stdout:
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for line in complete:
                        if line.strip():
                            lines.append(json.loads(line))
                            if lines[-1].get("subtype") == "api_retry":
                                retried.set()

            with anyio.fail_after(120):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(read_lines)
                    while not any(
                        isinstance(e, Exchange)
                        for e in read_gateway_events(events_path(home, "run-a"))
                    ):
                        await anyio.sleep(0.05)
                    os.kill(gateway.pid, signal.SIGKILL)
                    gate.touch()
                    await retried.wait()  # Claude met the closed port
                    restarted = await start_gateway(home)
                    assert restarted.port == gateway.port
                    await claude.wait()
    result = result_of(lines)
    assert claude.returncode == 0 and result["is_error"] is False and result["result"] == "finished"
    usage = gateway_usage([events_path(home, "run-a")])
    assert usage.requests == 2 and (usage.input_tokens, usage.output_tokens) == (600, 60)
