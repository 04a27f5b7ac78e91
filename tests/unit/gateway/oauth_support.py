"""A stand-in for Claude's OAuth token endpoint, and Claude Code's credentials file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from aiohttp import web

NOW = 1_800_000_000.0


class TokenEndpoint:
    """A stand-in for Claude's OAuth token endpoint on 127.0.0.1: it counts what it is
    sent, answers with numbered tokens, and holds its answers until ``gate`` is set."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.received = anyio.Event()
        self.gate = anyio.Event()
        self.gate.set()
        self.status = 200
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.received.set()
        await self.gate.wait()
        if self.status != 200:
            return web.json_response({"error": "invalid_grant"}, status=self.status)
        n = len(self.bodies)
        return web.json_response(
            {"access_token": f"access-{n}", "refresh_token": f"refresh-{n}",
             "expires_in": 3600, "scope": "user:inference user:profile"}
        )  # fmt: skip


def write_login(path: Path, *, access: str, refresh: str, expires_at: float) -> None:
    document = {
        "claudeAiOauth": {
            "accessToken": access, "refreshToken": refresh, "expiresAt": int(expires_at * 1000),
            "scopes": ["user:inference", "user:profile"], "subscriptionType": "max",
        },
        "mcpOAuth": {"server": {"accessToken": "kept"}},
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    path.chmod(0o600)
