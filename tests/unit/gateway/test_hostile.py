"""What a run's agent can do to the gateway with nothing but HTTP to it.

Each test is an attack: it passes once the gateway holds against it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from scad.gateway._connect_proxy import MAX_CONNECTIONS, MAX_TUNNELS, open_connect_proxy
from scad.gateway._credentials import OAuthLogin
from scad.gateway._egress import token_admission
from scad.gateway._events import Exchange, read_gateway_events
from scad.gateway._registry import Registration, events_path, register_run
from scad.gateway._server import serve_gateway
from scad.home import Home
from scad.runs.pricing import usage_cost

from .oauth_support import NOW, TokenEndpoint, write_login
from .test_proxy import api_key, sse

pytestmark = pytest.mark.anyio

START = sse(
    "message_start",
    {
        "type": "message_start",
        "message": {
            "model": "claude-sonnet-4-5",
            "usage": {"input_tokens": 10, "output_tokens": 1},
        },
    },
)
MARK = b"<<END>>"
LAST_DELTA = sse(
    "content_block_delta", {"type": "content_block_delta", "delta": {"text": "<<END>>"}}
)
TAIL = sse("content_block_stop", {"type": "content_block_stop", "index": 0})
USAGE = sse("message_delta", {"type": "message_delta", "usage": {"output_tokens": 100_000}}) + sse(
    "message_stop", {"type": "message_stop"}
)
#: What the whole answer costs: 100,000 output tokens of Sonnet.
FULL_COST = usage_cost("claude-sonnet-4-5", input_tokens=10, output_tokens=100_000)


class Model:
    """A model API whose answers cost $1.5 each, streamed or whole, on any path."""

    def __init__(self) -> None:
        self.calls = 0
        self.url = ""
        self.client_left = anyio.Event()
        self.gate = anyio.Event()
        self.gate.set()
        self.always_401 = False

    async def answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.calls += 1
        if self.always_401:
            return web.json_response(
                {"type": "error", "error": {"type": "authentication_error", "message": "no"}},
                status=401,
            )
        await self.gate.wait()
        if not json.loads(body or b"{}").get("stream", True):
            return web.json_response(
                {
                    "model": "claude-sonnet-4-5",
                    "usage": {"input_tokens": 10, "output_tokens": 100_000},
                }
            )
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(START)
        await response.write(LAST_DELTA)
        if json.loads(body).get("leave"):
            await self.client_left.wait()
        try:
            await response.write(TAIL)
            # The usage comes a moment later, as the API sends it: here, once the
            # gateway has hung up on this answer, or after a bound if it never does.
            with anyio.move_on_after(5):
                while request.transport is not None and not request.transport.is_closing():
                    await anyio.sleep(0.01)
            await response.write(USAGE)
        except ConnectionError:
            pass
        return response


@asynccontextmanager
async def model_api() -> AsyncIterator[Model]:
    model = Model()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", model.answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        model.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield model
    finally:
        await runner.cleanup()


def register(home: Home, model: Model, run_id: str, **limits: object) -> Registration:
    home.run_dir(run_id).mkdir(parents=True, exist_ok=True)
    return register_run(home, run_id, upstream=model.url, **limits)  # type: ignore[arg-type]


async def send(port: int, token: str, path: str, body: dict[str, object]) -> tuple[int, bytes]:
    """A request exactly as written (no client normalises its path), and its answer."""
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    )
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(head.encode() + data)
        answer = b""
        with anyio.fail_after(10):
            async for chunk in stream:
                answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def spent(home: Home, run_id: str) -> float:
    return sum(
        e.cost_usd
        for e in read_gateway_events(events_path(home, run_id))
        if isinstance(e, Exchange)
    )


@pytest.mark.parametrize("path", ["/v1/messages/", "/v1//messages", "/v1/./messages"])
async def test_a_spent_run_is_refused_on_every_spelling_of_the_messages_path(
    tmp_path: Path, path: str
) -> None:
    home = Home(tmp_path / "home")
    async with model_api() as model, serve_gateway(home, api_key()) as listening:
        run = register(home, model, "run-a", max_usd=0.01)
        assert (await send(listening.port, run.token, "/v1/messages", {}))[0] == 200
        calls = model.calls
        status, _ = await send(listening.port, run.token, path, {})
    assert status == 402 and model.calls == calls


async def test_a_whole_answer_on_another_spelling_of_the_path_is_metered(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    async with model_api() as model, serve_gateway(home, api_key()) as listening:
        run = register(home, model, "run-a")
        status, _ = await send(listening.port, run.token, "/v1/messages/", {"stream": False})
        assert status == 200
    assert spent(home, "run-a") == pytest.approx(FULL_COST)


async def test_a_client_that_leaves_before_the_usage_arrives_is_still_charged(
    tmp_path: Path,
) -> None:
    """The agent reads the whole text, then hangs up before ``message_delta``: the
    model made (and the API bills) every token of it."""
    home = Home(tmp_path / "home")
    async with model_api() as model, serve_gateway(home, api_key()) as listening:
        run = register(home, model, "run-a")
        data = json.dumps({"stream": True, "leave": True}).encode()
        head = (
            f"POST /v1/messages HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {run.token}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        stream = await anyio.connect_tcp("127.0.0.1", listening.port)
        await stream.send(head.encode() + data)
        got = b""
        with anyio.fail_after(10):
            while MARK not in got:
                got += await stream.receive()
        await stream.aclose()
        # Wait until the gateway has seen the client go: its next write fails.
        with anyio.fail_after(10):
            while not list(read_gateway_events(events_path(home, "run-a"))):
                model.client_left.set()
                await anyio.sleep(0.05)
    assert spent(home, "run-a") >= FULL_COST


async def test_parallel_requests_cannot_spend_far_past_a_budget(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    async with model_api() as model, serve_gateway(home, api_key()) as listening:
        run = register(home, model, "run-a", max_usd=FULL_COST)  # one answer's worth
        model.gate = anyio.Event()
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(send, listening.port, run.token, "/v1/messages", {})
            with anyio.fail_after(10):
                while model.calls < 20:
                    await anyio.sleep(0.01)
                    if model.calls >= 4:
                        break
            model.gate.set()
    # The budget's own answer, and what was in flight with it: a few answers, not 20.
    assert spent(home, "run-a") <= 4 * FULL_COST


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
async def test_401s_do_not_rotate_the_login_again_and_again(
    tmp_path: Path, endpoint: TokenEndpoint, path: str
) -> None:
    """An agent whose calls the API answers 401 whatever the login (a call an OAuth
    login may not make, or an API refusing it) refreshes the host's login at most
    once, and only for a model call."""
    login_file = tmp_path / "claude" / ".credentials.json"
    write_login(login_file, access="access-0", refresh="refresh-0", expires_at=NOW + 3600)
    login = OAuthLogin(login_file, token_endpoint=endpoint.url, clock=lambda: NOW)
    home = Home(tmp_path / "home")
    async with model_api() as model, serve_gateway(home, login) as listening:
        model.always_401 = True
        run = register(home, model, "run-a")
        for _ in range(10):
            assert (await send(listening.port, run.token, path, {}))[0] == 401
    assert len(endpoint.bodies) == (1 if path == "/v1/messages" else 0)


@pytest.mark.parametrize("silent_ones", [MAX_TUNNELS, MAX_CONNECTIONS + 8])
async def test_silent_connections_do_not_shut_the_connect_proxy_to_every_run(
    tmp_path: Path, silent_ones: int
) -> None:
    """Anyone who reaches the proxy's port (no token needed) and says nothing holds
    neither a tunnel's place nor, past a bound, a connection's: the oldest silent one
    is cut when another comes."""
    home = Home(tmp_path / "home")
    async with open_connect_proxy(token_admission(home), hosts=["127.0.0.1"]) as proxy:
        silent = [await anyio.connect_tcp("127.0.0.1", proxy.port) for _ in range(silent_ones)]
        try:
            async with await anyio.connect_tcp("127.0.0.1", proxy.port) as client:
                await client.send(b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
                with anyio.fail_after(5):  # a bound on liveness, not a measure of speed
                    answer = await client.receive()
        finally:
            for stream in silent:
                await stream.aclose()
    assert answer.startswith(b"HTTP/1.1 407")


@pytest.mark.parametrize(
    ("method", "path", "slows"),
    [
        ("POST", "/v1/messages/count_tokens", False),
        ("GET", "/v1/models", False),
        ("POST", "/v1/messages", True),
    ],
)
async def test_a_429_on_a_free_call_does_not_slow_the_batch(
    tmp_path: Path, method: str, path: str, slows: bool
) -> None:
    """``count_tokens`` costs nothing and has limits of its own: an agent that hammers
    it until the API answers 429 must not halve every other run's concurrency. A model
    call's 429 does."""
    from scad.batch.signals import GatewaySignals
    from scad.runs.gatewaylog import encode_event
    from scad.runs.records import RunPaths

    home = Home(tmp_path / "home")
    paths = RunPaths(home, "run-a")
    paths.root.mkdir(parents=True)
    register_run(home, "run-a")
    limited = Exchange(ts="t", method=method, path=path, status=429, retry_after=30.0)
    with paths.gateway_events.open("ab") as file:
        file.write(encode_event(limited) * 5)
    (signals,) = await GatewaySignals(home).poll(["run-a"])
    assert signals.rate_limits == ((429,) * 5 if slows else ())
