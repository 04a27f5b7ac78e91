"""The proxy in one process: a fake model API upstream, the gateway, a client; all on
127.0.0.1."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import anyio
import msgspec
import pytest
from aiohttp import web
from yarl import URL

from scad.gateway import _proxy, _server
from scad.gateway._credentials import (
    OAUTH_BETA,
    Credential,
    CredentialSource,
    OAuthLogin,
    StaticCredential,
)
from scad.gateway._events import BudgetRefused, Exchange, read_gateway_events
from scad.gateway._registry import Registration, events_path, register_run, revoke_run
from scad.gateway._server import serve_gateway
from scad.home import Home

from .oauth_support import NOW, TokenEndpoint, write_login

pytestmark = pytest.mark.anyio

HOST_KEY = "sk-host-secret-key"


def api_key(key: str = HOST_KEY) -> StaticCredential:
    return StaticCredential(Credential(kind="api-key", secret=key))


def sse(name: str, data: dict[str, object]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


START = sse(
    "message_start",
    {
        "type": "message_start",
        "message": {
            "model": "claude-sonnet-4-5",
            "usage": {"input_tokens": 1000, "output_tokens": 1},
        },
    },
)
REST = (
    sse("content_block_delta", {"type": "content_block_delta", "delta": {"text": "hi"}})
    + sse("message_delta", {"type": "message_delta", "usage": {"output_tokens": 40}})
    + sse("message_delta", {"type": "message_delta", "usage": {"output_tokens": 100}})
    + sse("message_stop", {"type": "message_stop"})
)


class Upstream:
    """A model API that records what reached it and answers as a test scripts."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.first_sent = anyio.Event()
        self.release = anyio.Event()
        self.gzip = False
        self.url = ""
        #: A credential answered 401, as the API answers an expired token.
        self.reject: str | None = None

    async def messages(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            {k.lower(): v for k, v in request.headers.items()} | {"path": request.path_qs}
        )
        body = await request.json()
        if self.reject is not None and request.headers.get("authorization") == self.reject:
            return web.json_response(
                {"type": "error", "error": {"type": "authentication_error", "message": "x"}},
                status=401,
            )
        if body.get("fail") == 429:
            return web.json_response(
                {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
                status=429,
                headers={"retry-after": "3", "anthropic-ratelimit-requests-remaining": "0"},
            )
        headers = {"content-type": "text/event-stream"}
        if self.gzip:
            headers["content-encoding"] = "gzip"
            response = web.Response(body=gzip.compress(START + REST), headers=headers)
            return response
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        await response.write(START)
        self.first_sent.set()
        if body.get("break_off"):
            assert request.transport is not None
            request.transport.close()  # the connection drops before the usage is told
            return response
        if body.get("gated"):
            await self.release.wait()
        await response.write(REST)
        await response.write_eof()
        return response

    async def other(self, request: web.Request) -> web.Response:
        self.seen.append(
            {k.lower(): v for k, v in request.headers.items()} | {"path": request.path_qs}
        )
        return web.json_response({"input_tokens": 12, "path": request.path})


@asynccontextmanager
async def upstream_server() -> AsyncIterator[Upstream]:
    upstream = Upstream()
    app = web.Application()
    app.router.add_post("/v1/messages", upstream.messages)
    app.router.add_route("*", "/{tail:.*}", upstream.other)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        upstream.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield upstream
    finally:
        await runner.cleanup()


class Setup:
    def __init__(
        self, home: Home, upstream: Upstream, url: str, client: aiohttp.ClientSession
    ) -> None:
        self.home, self.upstream, self.url, self.client = home, upstream, url, client

    def register(self, run_id: str, **limits: object) -> Registration:
        self.home.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return register_run(self.home, run_id, upstream=self.upstream.url, **limits)  # type: ignore[arg-type]

    async def ask(
        self,
        token: str,
        body: dict[str, object] | None = None,
        *,
        header: str = "authorization",
        **headers: str,
    ) -> tuple[int, bytes, aiohttp.ClientResponse]:
        auth = (
            {"authorization": f"Bearer {token}"}
            if header == "authorization"
            else {"x-api-key": token}
        )
        async with self.client.post(
            f"{self.url}/v1/messages?beta=true",
            json={"stream": True, "messages": []} | (body or {}),
            headers=auth | headers,
        ) as response:
            return response.status, await response.read(), response


@asynccontextmanager
async def gateway(
    tmp_path: Path, credential: CredentialSource | None = None
) -> AsyncIterator[Setup]:
    home = Home(tmp_path / "home")
    async with (
        upstream_server() as upstream,
        serve_gateway(home, credential or api_key()) as listening,
        aiohttp.ClientSession(auto_decompress=False) as client,
    ):
        yield Setup(home, upstream, f"http://127.0.0.1:{listening.port}", client)


def events(home: Home, run_id: str) -> list[object]:
    return list(read_gateway_events(events_path(home, run_id)))


async def test_a_stream_passes_with_the_hosts_key_and_is_metered(tmp_path: Path) -> None:
    async with gateway(tmp_path) as setup:
        run = setup.register("run-a")
        status, body, _ = await setup.ask(
            run.token, **{"anthropic-beta": "x-1,y-2", "anthropic-version": "2023-06-01"}
        )
        assert (status, body) == (200, START + REST)
        seen = setup.upstream.seen[0]
        assert seen["path"] == "/v1/messages?beta=true"
        assert seen["x-api-key"] == HOST_KEY
        assert "authorization" not in seen
        assert run.secret is not None and run.secret not in json.dumps(seen)
        assert seen["anthropic-beta"] == "x-1,y-2" and seen["anthropic-version"] == "2023-06-01"
        assert seen["accept-encoding"] == "identity"
        status, _, _ = await setup.ask(run.token, header="x-api-key")
        assert status == 200
    (first, second) = events(setup.home, "run-a")
    assert isinstance(first, Exchange) and isinstance(second, Exchange)
    assert msgspec.structs.replace(first, ts="", ms=0) == msgspec.structs.replace(
        second, ts="", ms=0
    )
    assert (first.status, first.model, first.input_tokens, first.output_tokens) == (
        200, "claude-sonnet-4-5", 1000, 100,
    )  # fmt: skip
    assert first.complete and first.cost_usd == pytest.approx((1000 * 3 + 100 * 15) / 1e6)


async def test_the_first_event_arrives_before_the_answer_ends(tmp_path: Path) -> None:
    async with gateway(tmp_path) as setup:
        run = setup.register("run-a")
        async with setup.client.post(
            f"{setup.url}/v1/messages",
            json={"stream": True, "gated": True, "messages": []},
            headers={"authorization": f"Bearer {run.token}"},
        ) as response:
            first = await response.content.readexactly(len(START))
            assert first == START
            assert not setup.upstream.release.is_set()
            setup.upstream.release.set()
            assert await response.content.read() == REST


async def test_a_compressed_answer_passes_untouched_and_is_still_metered(tmp_path: Path) -> None:
    async with gateway(tmp_path) as setup:
        setup.upstream.gzip = True
        run = setup.register("run-a")
        status, body, response = await setup.ask(run.token)
        assert status == 200 and response.headers["content-encoding"] == "gzip"
        assert gzip.decompress(body) == START + REST
    (exchange,) = events(setup.home, "run-a")
    assert isinstance(exchange, Exchange) and exchange.output_tokens == 100


async def test_an_answer_that_breaks_off_before_its_usage_is_charged_its_max_tokens(
    tmp_path: Path,
) -> None:
    async with gateway(tmp_path) as setup:
        run = setup.register("run-a")
        with contextlib.suppress(aiohttp.ClientPayloadError):
            await setup.ask(run.token, {"break_off": True, "max_tokens": 8000})
        with anyio.fail_after(10):
            while not events(setup.home, "run-a"):
                await anyio.sleep(0.01)
    (exchange,) = events(setup.home, "run-a")
    assert isinstance(exchange, Exchange) and not exchange.complete
    assert exchange.cost_usd == pytest.approx((1000 * 3 + 8000 * 15) / 1e6)


async def test_rate_limits_are_recorded(tmp_path: Path) -> None:
    async with gateway(tmp_path) as setup:
        run = setup.register("run-a")
        status, _, response = await setup.ask(run.token, {"fail": 429})
        assert status == 429 and response.headers["retry-after"] == "3"
    (exchange,) = events(setup.home, "run-a")
    assert isinstance(exchange, Exchange)
    assert exchange.retry_after == 3.0
    assert exchange.ratelimit == {"anthropic-ratelimit-requests-remaining": "0"}


async def test_unknown_revoked_and_foreign_tokens_are_refused(tmp_path: Path) -> None:
    async with gateway(tmp_path) as setup:
        a, b = setup.register("run-a"), setup.register("run-b")
        for token in ("", "nonsense", f"run-a.{b.secret}", a.token + "x"):
            status, body, _ = await setup.ask(token)
            assert status == 401 and b"authentication_error" in body, token
        revoke_run(setup.home, "run-a")
        status, _, _ = await setup.ask(a.token)
        assert status == 401
        assert (await setup.ask(b.token))[0] == 200
    assert setup.upstream.seen and len(setup.upstream.seen) == 1


async def test_a_spent_run_is_refused_with_402_and_a_budget_event(tmp_path: Path) -> None:
    async with gateway(tmp_path) as setup:
        run = setup.register("run-a", max_usd=0.004)
        assert (await setup.ask(run.token))[0] == 200  # $0.0045
        status, body, _ = await setup.ask(run.token)
        assert status == 402 and json.loads(body)["error"]["type"] == "billing_error"
        # count_tokens is not a model call: it still goes.
        async with setup.client.post(
            f"{setup.url}/v1/messages/count_tokens", json={}, headers={"x-api-key": run.token}
        ) as response:
            assert response.status == 200
    kinds = [type(e).__name__ for e in events(setup.home, "run-a")]
    assert kinds == ["Exchange", "BudgetRefused", "Exchange"]


async def test_a_batch_budget_counts_every_run_of_the_batch(tmp_path: Path) -> None:
    async with gateway(tmp_path) as setup:
        a = setup.register("run-a", batch="b1", batch_max_usd=0.008)
        b = setup.register("run-b", batch="b1", batch_max_usd=0.008)
        other = setup.register("run-c", batch="b2", batch_max_usd=0.008)
        assert (await setup.ask(a.token))[0] == 200
        assert (await setup.ask(b.token))[0] == 200
        assert (await setup.ask(a.token))[0] == 402
        assert (await setup.ask(b.token))[0] == 402
        assert (await setup.ask(other.token))[0] == 200
    (refused,) = [e for e in events(setup.home, "run-b") if isinstance(e, BudgetRefused)]
    assert refused.scope == "batch" and refused.spent_usd == pytest.approx(0.009)


async def status_of(port: int, token: str) -> int:
    """The status a model call with ``token`` gets from a gateway on ``port``."""
    async with (
        aiohttp.ClientSession() as client,
        client.post(
            f"http://127.0.0.1:{port}/v1/messages",
            json={"stream": True, "messages": []},
            headers={"authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status


async def test_a_restarted_gateway_remembers_what_was_spent(tmp_path: Path) -> None:
    async with gateway(tmp_path) as setup:
        run = setup.register("run-a", max_usd=0.004)
        assert (await setup.ask(run.token))[0] == 200
    async with serve_gateway(setup.home, api_key()) as listening:
        assert await status_of(listening.port, run.token) == 402


async def test_an_oauth_token_goes_as_bearer_with_its_beta(tmp_path: Path) -> None:
    async with gateway(
        tmp_path, StaticCredential(Credential(kind="oauth", secret="oauth-access"))
    ) as setup:
        run = setup.register("run-a")
        assert (await setup.ask(run.token, **{"anthropic-beta": "x-1"}))[0] == 200
    seen = setup.upstream.seen[0]
    assert seen["authorization"] == "Bearer oauth-access" and "x-api-key" not in seen
    assert seen["anthropic-beta"] == f"x-1,{OAUTH_BETA}"


async def test_an_expired_login_is_refreshed_once_for_all_requests_and_after_a_401(
    tmp_path: Path, endpoint: TokenEndpoint
) -> None:
    path = tmp_path / "claude" / ".credentials.json"
    write_login(path, access="access-0", refresh="refresh-0", expires_at=NOW - 1)
    login = OAuthLogin(path, token_endpoint=endpoint.url, clock=lambda: NOW)
    async with gateway(tmp_path, login) as setup:
        run = setup.register("run-a")
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(setup.ask, run.token)
        assert len(endpoint.bodies) == 1
        assert {seen["authorization"] for seen in setup.upstream.seen} == {"Bearer access-1"}
        assert {seen["anthropic-beta"] for seen in setup.upstream.seen} == {OAUTH_BETA}
        setup.upstream.reject = "Bearer access-1"
        assert (await setup.ask(run.token))[0] == 401
        assert (await setup.ask(run.token))[0] == 200
    assert (
        len(endpoint.bodies) == 2 and setup.upstream.seen[-1]["authorization"] == "Bearer access-2"
    )
    assert json.loads(path.read_text())["claudeAiOauth"]["refreshToken"] == "refresh-2"


async def test_the_probe_and_other_calls(tmp_path: Path) -> None:
    async with gateway(tmp_path) as setup:
        run = setup.register("run-a")
        async with setup.client.head(f"{setup.url}/") as response:
            assert response.status == 200
        async with setup.client.get(
            f"{setup.url}/v1/models?limit=5", headers={"x-api-key": run.token}
        ) as response:
            assert response.status == 200 and (await response.json())["path"] == "/v1/models"
        async with setup.client.get(f"{setup.url}/elsewhere") as response:
            assert response.status == 404
    assert setup.upstream.seen[-1]["path"] == "/v1/models?limit=5"


async def test_an_unreachable_upstream_is_a_502(tmp_path: Path) -> None:
    async with gateway(tmp_path) as setup:
        home = setup.home
        home.run_dir("run-a").mkdir(parents=True)
        run = register_run(home, "run-a", upstream="http://127.0.0.1:9")
        status, body, _ = await setup.ask(run.token)
        assert status == 502 and b"api_error" in body


async def test_without_a_host_credential_the_answer_is_not_retried(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.run_dir("run-a").mkdir(parents=True)
    run = register_run(home, "run-a", upstream="http://127.0.0.1:9")
    async with serve_gateway(home, None) as listening:
        assert await status_of(listening.port, run.token) == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/messages/batches"),
        ("GET", "/v1/messages/batches/x/results"),
        ("POST", "/v1/files"),
        ("DELETE", "/v1/messages"),
        ("POST", "/v1/models"),
        ("POST", "/v1/%6dessages"),
        ("POST", "/v1/x/../messages"),
    ],
)
async def test_only_the_calls_claude_code_makes_are_passed_on(
    tmp_path: Path, method: str, path: str
) -> None:
    async with gateway(tmp_path) as setup:
        run = setup.register("run-a")
        async with setup.client.request(
            method,
            URL(setup.url + path, encoded=True),
            json={},
            headers={"x-api-key": run.token},
        ) as response:
            assert response.status == 404
            assert (await response.json())["error"]["type"] == "not_found_error"
    assert setup.upstream.seen == []


async def test_a_body_that_stalls_is_answered_and_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_proxy, "BODY_SECONDS", 0.2)
    async with gateway(tmp_path) as setup:
        run = setup.register("run-a")
        head = (
            f"POST /v1/messages HTTP/1.1\r\nHost: g\r\nx-api-key: {run.token}\r\n"
            "Content-Length: 1000\r\n\r\n{"
        )
        async with await anyio.connect_tcp("127.0.0.1", URL(setup.url).port or 0) as stream:
            await stream.send(head.encode())
            answer = b""
            with anyio.fail_after(10):  # a bound on liveness: the gateway hangs up
                async for chunk in stream:
                    answer += chunk
    assert answer.startswith(b"HTTP/1.1 408") and setup.upstream.seen == [], answer


async def test_a_body_over_the_limit_is_refused(tmp_path: Path) -> None:
    async with gateway(tmp_path) as setup:
        run = setup.register("run-a")
        async with setup.client.post(
            f"{setup.url}/v1/messages",
            # Far more than any request Claude Code makes, as the API's own limits go.
            data=io.BytesIO(b"x" * ((16 << 20) + 1)),
            headers={"x-api-key": run.token},
        ) as response:
            assert response.status == 413
    assert setup.upstream.seen == []


async def test_a_head_that_never_ends_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_server, "HEAD_SECONDS", 0.2)
    async with (
        gateway(tmp_path) as setup,
        await anyio.connect_tcp("127.0.0.1", URL(setup.url).port or 0) as stream,
    ):
        await stream.send(b"GET / HTTP/1.1\r\nX: ")
        with anyio.fail_after(10):  # a bound on liveness: the gateway hangs up
            async for _ in stream:
                pass
