"""The gateway's HTTP face: the Messages API, passed through with the host's credential.

A request carries its run's token (``Authorization: Bearer`` or ``x-api-key``). The
gateway checks it, checks the run's budget (model calls only), puts the host's
credential in its place, and forwards the request to the run's upstream. The answer
comes back byte for byte as it arrives (no buffering, no re-chunking of the body,
compressed bytes left compressed with their header); a copy is metered, and when it
ends the gateway records the exchange as the run's event.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping

import aiohttp
import anyio
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ..errors import CredentialsError
from ..home import Home
from ..runs.pricing import usage_cost
from ..runs.records import now_iso
from ._budget import Overspent
from ._ceiling import Ceiling, ceiling_of, unfinished_cost
from ._credentials import OAUTH_BETA, Credential, CredentialSource
from ._events import BudgetRefused, Exchange
from ._journal import Journal
from ._ledger import Ledger
from ._meter import Meter, meter_for
from ._paths import FORWARDED, METERED, canonical_path
from ._registry import Registration, registration_of
from ._sse import StreamUsage
from ._transport import Transport, TransportLimits

__all__ = ["MAX_REQUEST", "Gateway", "error_response"]

#: The largest request body passed on: a long conversation with images runs to a few
#: megabytes; every request being read may hold this much.
MAX_REQUEST = 16 << 20
#: How long a request's body may take to arrive: one that trickles in holds its bytes.
BODY_SECONDS = 60.0
#: How long, and how far, an answer is still read into the meter after its client
#: left: the API bills every token the model makes, and tells the count at the end.
_DRAIN_SECONDS = 120
_DRAIN_BYTES = 32 << 20
#: Rate-limit headers kept per exchange, and the length of each value.
_MAX_RATELIMIT = 32
_MAX_HEADER_VALUE = 200
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers never passed on: the run's token, and what the gateway sets itself.
_NOT_FORWARDED = _HOP_BY_HOP | {
    "host",
    "authorization",
    "x-api-key",
    "content-length",
    "accept-encoding",
    "cookie",
}


def error_response(status: int, kind: str, message: str) -> web.Response:
    """An answer shaped like the Messages API's own errors."""
    return web.json_response(
        {"type": "error", "error": {"type": kind, "message": message}}, status=status
    )


class Gateway:
    """The request handlers, and what they share: the home, the credential, the
    upstream client, the ledger and the journal."""

    def __init__(
        self,
        home: Home,
        credential: CredentialSource | None,
        client: aiohttp.ClientSession,
        journal: Journal,
        transport: TransportLimits | None = None,
    ) -> None:
        self._home = home
        self._credential = credential
        self._client = client
        self._journal = journal
        self._ledger = Ledger(home)
        self._transport = Transport(home, transport)

    def application(self, *own: web.RouteDef) -> web.Application:
        """The model API's calls, after the gateway's ``own`` endpoints."""
        app = web.Application(client_max_size=MAX_REQUEST)
        app.router.add_routes(own)
        self._transport.add_routes(app)
        app.router.add_route("HEAD", "/", self.probe)
        app.router.add_route("GET", "/", self.probe)
        app.router.add_route("*", "/{tail:.*}", self.forward)
        return app

    async def probe(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        raw_path, query_mark, query = request.raw_path.partition("?")
        path = canonical_path(raw_path)
        if path is None or (request.method, path) not in FORWARDED:
            # 404: Claude Code does not retry it; nothing else is passed on.
            return error_response(
                404, "not_found_error", "scad gateway: the model API call is not one it serves"
            )
        registration = registration_of(self._home, request.headers)
        if registration is None:
            return error_response(
                401, "authentication_error", "scad gateway: this token opens no live run"
            )
        target = path + query_mark + query
        if (request.method, path) not in METERED:
            return await self._pass(request, path, target, registration, None)
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        async with self._ledger.call(registration, ceiling_of(body).output_usd) as over:
            if over is not None:
                return await self._refusal(registration, over)
            return await self._pass(request, path, target, registration, ceiling_of(body))

    async def _pass(
        self,
        request: web.Request,
        path: str,
        target: str,
        registration: Registration,
        ceiling: Ceiling | None,
    ) -> web.StreamResponse:
        """Forward the request (at its canonical ``target``) with the host's credential,
        and relay its answer."""
        if self._credential is None:
            # 403: Claude Code does not retry it; a 401 would be retried ten times.
            return error_response(
                403,
                "authentication_error",
                "scad gateway: the host has no Claude credential (set ANTHROPIC_API_KEY "
                "or CLAUDE_CODE_OAUTH_TOKEN where the gateway starts)",
            )
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        try:
            auth = await self._credential.credential()
        except CredentialsError as exc:
            return error_response(403, "authentication_error", f"scad gateway: {exc}")
        started = time.monotonic()
        url = URL(registration.upstream + target, encoded=True)
        try:
            upstream = await self._client.request(
                request.method,
                url,
                headers=_outgoing_headers(request.headers, auth),
                data=body,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self._record(
                registration,
                Exchange(
                    ts=now_iso(),
                    method=request.method,
                    path=path,
                    status=502,
                    error=f"upstream unreachable: {type(exc).__name__}",
                    ms=_ms_since(started),
                ),
            )
            return error_response(502, "api_error", "scad gateway: the model API cannot be reached")
        async with upstream:
            response = await self._relay(request, path, registration, upstream, started, ceiling)
        if upstream.status == 401 and (request.method, path) in METERED:
            # The API refused the host's credential for a model call: a login is
            # refreshed now, once for every request that saw it refused; Claude Code
            # retries a 401. (Another call may answer 401 whatever the login.)
            with contextlib.suppress(CredentialsError):
                await self._credential.credential(rejected=auth)
        return response

    async def _refusal(self, registration: Registration, over: Overspent) -> web.Response:
        await self._journal.record(
            registration.run_id,
            BudgetRefused(
                ts=now_iso(), scope=over.scope, spent_usd=over.spent_usd, cap_usd=over.cap_usd
            ),
        )
        # 402: Claude Code ends the run at once; it retries a 401 ten times.
        whose = "run" if over.scope == "run" else f"batch {registration.batch}"
        return error_response(
            402,
            "billing_error",
            f"scad: the {whose} spent ${over.spent_usd:.4f} of its ${over.cap_usd:.4f} budget",
        )

    async def _relay(
        self,
        request: web.Request,
        path: str,
        registration: Registration,
        upstream: aiohttp.ClientResponse,
        started: float,
        ceiling: Ceiling | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in upstream.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                response.headers.add(name, value)
        meter = meter_for(
            path,
            upstream.headers.get("content-type", ""),
            upstream.headers.get("content-encoding", ""),
        )
        ended = False
        error: str | None = None
        try:
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                meter.feed(chunk)
                await response.write(chunk)
            await response.write_eof()
            ended = True
        except ConnectionResetError:
            error = "client went away"
            await _drain(upstream, meter)
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"upstream broke off: {type(exc).__name__}"
        finally:
            usage = meter.usage()
            exchange = Exchange(
                ts=now_iso(),
                method=request.method,
                path=path,
                status=upstream.status,
                complete=ended and (usage is None or usage.stopped),
                error=error or (usage.error if usage else None),
                retry_after=_retry_after(upstream.headers),
                ratelimit=_ratelimit(upstream.headers),
                ms=_ms_since(started),
            )
            if usage is not None:
                exchange.model = usage.model
                exchange.input_tokens = usage.input_tokens
                exchange.output_tokens = usage.output_tokens
                exchange.cache_read_tokens = usage.cache_read_tokens
                exchange.cache_creation_tokens = usage.cache_creation_tokens
                exchange.cost_usd = usage_cost(
                    usage.model,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    cache_read_tokens=usage.cache_read_tokens,
                    cache_creation_tokens=usage.cache_creation_tokens,
                )
            if ceiling is not None and upstream.status == 200 and not _told_its_end(usage):
                exchange.cost_usd = max(exchange.cost_usd, unfinished_cost(ceiling, usage))
            with anyio.CancelScope(shield=True):
                await self._record(registration, exchange)
        return response

    async def _record(self, registration: Registration, exchange: Exchange) -> None:
        self._ledger.add(registration.run_id, exchange.cost_usd)
        await self._journal.record(registration.run_id, exchange)


async def _body(request: web.Request) -> bytes | web.Response:
    """The request's body (read once, then kept by aiohttp), or the answer that refuses
    it: too large, or too slow to arrive."""
    try:
        with anyio.fail_after(BODY_SECONDS):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "request_too_large", "scad gateway: request too large")
    except TimeoutError:
        stalled = error_response(408, "timeout_error", "scad gateway: the request body stalled")
        stalled.force_close()  # the rest of the body is never read
        return stalled


async def _drain(upstream: aiohttp.ClientResponse, meter: Meter) -> None:
    """Read the rest of an answer whose client left into the meter alone, within bounds."""
    read = 0
    with (
        anyio.move_on_after(_DRAIN_SECONDS),
        contextlib.suppress(aiohttp.ClientError, TimeoutError),
    ):
        async for chunk in upstream.content.iter_any():
            meter.feed(chunk)
            read += len(chunk)
            if read > _DRAIN_BYTES:
                return


def _told_its_end(usage: StreamUsage | None) -> bool:
    """Whether an answer gave its final usage, or the API's word on why it has none."""
    return usage is not None and (usage.stopped or usage.error is not None)


def _outgoing_headers(incoming: CIMultiDictProxy[str], auth: Credential) -> CIMultiDict[str]:
    named_by_connection = {
        name.strip().lower() for name in incoming.get("connection", "").split(",") if name.strip()
    }
    headers = CIMultiDict(
        (name, value)
        for name, value in incoming.items()
        if name.lower() not in _NOT_FORWARDED and name.lower() not in named_by_connection
    )
    # The meter reads the answer as it passes: ask for it uncompressed.
    headers["accept-encoding"] = "identity"
    headers.update(auth.headers())
    if auth.kind == "oauth":  # the API takes an OAuth token only beside its beta
        given = ",".join(headers.getall("anthropic-beta", []))
        betas = [beta.strip() for beta in given.split(",") if beta.strip()]
        if OAUTH_BETA not in betas:
            betas.append(OAUTH_BETA)
        headers["anthropic-beta"] = ",".join(betas)
    return headers


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        seconds = float(headers.get("retry-after", ""))
    except ValueError:
        return None  # absent, or an HTTP date
    return seconds if 0 <= seconds < 1e9 else None


def _ratelimit(headers: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower().startswith("anthropic-ratelimit-") and len(found) < _MAX_RATELIMIT:
            found[name.lower()[:_MAX_HEADER_VALUE]] = value[:_MAX_HEADER_VALUE]
    return found


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
