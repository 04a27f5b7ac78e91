"""Fixtures of the gateway's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from .oauth_support import TokenEndpoint
from .transport_support import limits, served  # noqa: F401 (fixtures)


@pytest.fixture
async def endpoint() -> AsyncIterator[TokenEndpoint]:
    fake = TokenEndpoint()
    app = web.Application()
    app.router.add_post("/v1/oauth/token", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}/v1/oauth/token"
    try:
        yield fake
    finally:
        await runner.cleanup()
