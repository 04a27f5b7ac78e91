"""Opening the aiodocker client on an endpoint: the connector it wants (a unix socket,
TCP with or without TLS), the first request that shows the engine answers, and what
TLS refused said in one line.

aiodocker runs on asyncio only, and its client must be made inside the loop: here,
as the block opens. The connector is scad's own, sized for the streams the caller
will hold, so it is closed here as well as the client.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiodocker
import aiohttp
import anyio

from ..errors import EngineError, EngineUnavailable
from ._client import DockerEngine
from ._endpoint import Endpoint, endpoint_of, tls_context
from ._types import Engine
from ._wire import unreachable

__all__ = ["open_engine"]


@asynccontextmanager
async def open_engine(
    *, max_connections: int = 100, endpoint: Endpoint | None = None
) -> AsyncIterator[Engine]:
    """Connect to ``endpoint``'s engine (default: the one the docker CLI would use:
    ``DOCKER_HOST`` with its TLS settings, a Docker context, or the local socket) and
    check it answers.

    The connection pool is sized by ``max_connections``: with more live streams
    than connections the next request would hang.
    """
    endpoint = endpoint or endpoint_of(os.environ)
    host = endpoint.host
    connector: aiohttp.BaseConnector
    try:
        if endpoint.socket is not None:
            # With a connector of our own, aiodocker wants the placeholder host it uses itself.
            connector = aiohttp.UnixConnector(endpoint.socket, limit=max_connections)
            docker = aiodocker.Docker(url="unix://localhost", connector=connector)
        elif host.startswith("tcp://"):
            tls: ssl.SSLContext | bool = False
            if endpoint.tls is not None:
                tls = await anyio.to_thread.run_sync(tls_context, endpoint.tls, endpoint.origin)
            connector = aiohttp.TCPConnector(ssl=tls, limit=max_connections)
            docker = aiodocker.Docker(url=endpoint.url, connector=connector)
        else:
            raise ValueError("scad speaks to an engine over unix:// or tcp:// only")
    except (ValueError, OSError) as exc:
        raise EngineUnavailable(f"cannot use {endpoint.origin} {host}: {exc}") from exc
    try:
        engine = DockerEngine(docker, endpoint)
        try:
            with anyio.fail_after(15):
                await engine.version()
        except (EngineUnavailable, TimeoutError) as exc:
            if tls_refused := _tls_refusal(exc):
                raise EngineUnavailable(
                    f"the Docker engine at {host} ({endpoint.origin}): {tls_refused}"
                ) from exc
            raise unreachable(host) from exc
        except EngineError as exc:
            hint = (
                "" if endpoint.tls else "; over TLS, set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH"
            )
            raise EngineUnavailable(
                f"the Docker engine at {host} ({endpoint.origin}) refused scad: "
                f"{str(exc).strip().rstrip('.')}{hint}"
            ) from exc
        yield engine
    finally:
        with anyio.CancelScope(shield=True):
            await docker.close()
            await connector.close()  # ours, so aiodocker leaves it open


def _tls_refusal(exc: BaseException) -> str | None:
    """What TLS refused in ``exc``'s chain (a certificate not trusted, a client
    certificate the engine did not take), in one line; None when it was not TLS."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectorCertificateError):
            cause = cause.certificate_error  # the ssl module's error, with its reason
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"its TLS certificate is not trusted ({cause.verify_message}); "
                "the CA file must be the one that signed it"
            )
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed ({cause.reason or cause}); check the CA, certificate and key"
        cause = cause.__cause__ or cause.__context__
    return None
