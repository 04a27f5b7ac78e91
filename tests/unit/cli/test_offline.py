"""`scad offline serve` as a user runs it: a real process, spoken to over HTTP."""

from __future__ import annotations

import sys
from pathlib import Path

import aiohttp
import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from scad.offline import serve_offline_model

pytestmark = pytest.mark.anyio
SCAD = str(Path(sys.executable).parent / "scad")


async def test_serve_prints_url_and_config_lines_and_answers() -> None:
    async with await anyio.open_process([SCAD, "offline", "serve", "--port", "0"]) as process:
        assert process.stdout is not None
        lines = []
        async for chunk in TextReceiveStream(process.stdout):
            lines += chunk.splitlines()
            if len(lines) >= 6:
                break
        url = lines[0].removeprefix("offline model listening on ")
        assert url.startswith("http://127.0.0.1:")
        assert lines[1:5] == [
            "to use it from a session, add to the config:",
            "  network: host",
            "  claude:",
            f'    env: {{ANTHROPIC_BASE_URL: "{url}"}}',
        ]
        request = {
            "model": "m",
            "stream": True,
            "messages": [{"role": "user", "content": "SAY: hi"}],
        }
        async with aiohttp.ClientSession() as http:
            response = await http.post(f"{url}/v1/messages?beta=true", json=request)
            text = await response.text()
        process.terminate()
    assert '"delta": {"type": "text_delta", "text": "hi"}' in text


async def test_serve_on_a_busy_port_is_one_line() -> None:
    async with serve_offline_model() as model:
        port = model.url.rsplit(":", 1)[1]
        result = await anyio.run_process([SCAD, "offline", "serve", "--port", port], check=False)
    assert result.returncode == 2
    assert result.stderr.decode() == (
        f"scad: error: cannot listen on 127.0.0.1:{port}: address already in use; pick another --port\n"
    )
