"""The offline model over HTTP, in-process (the real binary is in tests/integration)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest

from scad.cli.offline import served_line
from scad.offline import Served, serve_offline_model

pytestmark = pytest.mark.anyio


def body(prompt: str, *, stream: bool = False, session: str = "s1") -> dict[str, Any]:
    return {
        "model": "claude-test",
        "stream": stream,
        "metadata": {"user_id": json.dumps({"session_id": session})},
        "messages": [{"role": "user", "content": prompt}],
    }


def sse_events(raw: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in raw.strip().split("\n\n"):
        name_line, data_line = chunk.splitlines()
        events.append(
            (name_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: ")))
        )
    return events


async def test_streaming_answer_with_text_and_tool_use() -> None:
    async with serve_offline_model() as model, aiohttp.ClientSession() as http:
        response = await http.post(
            f"{model.url}/v1/messages?beta=true", json=body("SAY: hi\nRUN: ls", stream=True)
        )
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        events = sse_events(await response.text())
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0][1]["message"]["model"] == "claude-test"
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "hi"}
    assert events[4][1]["content_block"]["name"] == "Bash"
    assert json.loads(events[5][1]["delta"]["partial_json"]) == {"command": "ls"}
    assert events[7][1]["delta"]["stop_reason"] == "tool_use"


async def test_non_streaming_answer() -> None:
    async with serve_offline_model() as model, aiohttp.ClientSession() as http:
        response = await http.post(f"{model.url}/v1/messages", json=body("TOKENS: 7 3\nSAY: plain"))
        message = await response.json()
    assert message["content"] == [{"type": "text", "text": "plain"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"] == {"input_tokens": 7, "output_tokens": 3}


async def test_scripted_failures_count_per_prompt_across_sessions() -> None:
    async with serve_offline_model() as model, aiohttp.ClientSession() as http:
        url = f"{model.url}/v1/messages"
        statuses = []
        for session, prompt in [("a", "1"), ("b", "1"), ("c", "1"), ("a", "2")]:
            script = f"FAIL: 429 x2\nSAY: ok {prompt}"
            response = await http.post(url, json=body(script, session=session))
            statuses.append(response.status)
            if response.status == 429:
                assert response.headers["retry-after"] == "1"
                assert (await response.json())["error"]["type"] == "rate_limit_error"
    # A new session (a retried run) goes on counting the same prompt's failures.
    assert statuses == [429, 429, 200, 429]
    assert model.errors == 3


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (529, "overloaded_error"),
        (500, "api_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (418, "api_error"),
    ],
)
async def test_other_failures(status: int, kind: str) -> None:
    async with serve_offline_model() as model, aiohttp.ClientSession() as http:
        response = await http.post(f"{model.url}/v1/messages", json=body(f"FAIL: {status}"))
        assert response.status == status
        assert (await response.json())["error"]["type"] == kind


async def test_malformed_body_is_400() -> None:
    async with serve_offline_model() as model, aiohttp.ClientSession() as http:
        response = await http.post(f"{model.url}/v1/messages", data=b"{nope")
        assert response.status == 400
        error = await response.json()
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
        response = await http.post(f"{model.url}/v1/messages", json={"messages": "x"})
        assert response.status == 400


async def test_count_tokens_and_other_paths() -> None:
    async with serve_offline_model() as model, aiohttp.ClientSession() as http:
        counted = await http.post(f"{model.url}/v1/messages/count_tokens", json=body("x" * 400))
        assert (await counted.json())["input_tokens"] > 0
        other = await http.get(f"{model.url}/api/oauth/profile")
        assert other.status == 200


async def test_hang_never_answers_and_releases_on_disconnect() -> None:
    async with serve_offline_model() as model, aiohttp.ClientSession() as http:
        with anyio.move_on_after(0.5) as scope:
            await http.post(f"{model.url}/v1/messages", json=body("HANG"))
        assert scope.cancelled_caught
        # The server still answers others.
        response = await http.post(f"{model.url}/v1/messages", json=body("SAY: alive"))
        assert response.status == 200


async def test_port_in_use_is_reported() -> None:
    async with serve_offline_model() as model:
        port = int(model.url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            async with serve_offline_model(port=port):
                pass


async def test_a_client_that_goes_away_mid_answer_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket
    import struct

    async with serve_offline_model() as model:
        port = int(model.url.rsplit(":", 1)[1])
        data = json.dumps(body("SAY: too late", stream=True)).encode()
        head = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(head % len(data) + data)
        # Reset at once, as a killed container's connection is, while the answer is written.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        await anyio.sleep(0.5)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


async def test_every_answer_is_heard_when_asked() -> None:
    served: list[Served] = []
    async with (
        serve_offline_model(on_served=served.append) as model,
        aiohttp.ClientSession() as http,
    ):
        prompt = "FAIL: 402\nTOKENS: 5 9\nRUN: make test"
        for _ in range(2):
            await http.post(f"{model.url}/v1/messages", json=body(prompt))
        await http.post(f"{model.url}/v1/messages/count_tokens", json=body("x"))
    assert served == [
        Served(status=402, prompt="FAIL: 402", turn=0),
        Served(
            status=200,
            prompt="FAIL: 402",
            turn=0,
            command="make test",
            input_tokens=5,
            output_tokens=9,
        ),
    ]
    line = served_line(msgspec.structs.replace(served[1], prompt="evil\u202e\x1b[2J"))
    assert line.startswith("200 turn 0 RUN make test (in 5, out 9) ")
    assert "\x1b" not in line and "\u202e" not in line
