"""The offline model's HTTP server: the Messages API, scripted by the prompt.

Facts about Claude Code 2.1.x as a client, measured against this server:

- Headless runs send ``POST /v1/messages?beta=true`` with ``stream: true``; the
  body's ``messages`` hold ``role: "system"`` entries besides user and
  assistant ones, and user messages carry ``<system-reminder>`` text blocks
  before the prompt itself.
- ``metadata.user_id`` is a JSON string whose ``session_id`` names the Claude
  session. The ``FAIL:`` counters are kept per prompt, not per session, so a
  run that is tried again sees its scripted failures run out.
- After a ``tool_use`` of ``Bash`` Claude runs the command and sends the whole
  conversation again with a ``tool_result`` block in the latest user message.
- On 429 (honouring ``retry-after``), 529 and 500 it retries by itself, printing
  one ``system``/``api_retry`` line per retry, and ends normally if a retry
  succeeds.
- ``message_delta``'s ``usage.output_tokens`` is the answer's total, not an
  increment; the result's usage is the sum over answers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
from aiohttp import web

from .script import Answer, plan_answer, script_key

__all__ = ["OfflineModel", "Served", "serve_offline_model"]

#: The Messages API's error type for each status it answers with.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class Served(msgspec.Struct, frozen=True, kw_only=True):
    """One Messages request the model answered: what it served, for a log."""

    status: int
    #: The script's first line: which prompt this was.
    prompt: str
    turn: int
    command: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0


class OfflineModel:
    """A running offline model; ``url`` is what ``ANTHROPIC_BASE_URL`` should be."""

    def __init__(self, url: str, on_served: Callable[[Served], None] | None = None) -> None:
        self.url = url
        self._on_served = on_served
        #: Messages requests answered, and API errors sent on purpose.
        self.requests = 0
        self.errors = 0
        self._failures: Counter[tuple[str, int]] = Counter()

    async def handle_messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json(loads=json.loads)
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise ValueError("the body must be an object with a messages list")
        except ValueError as exc:
            return _error(400, f"malformed request: {exc}")
        self.requests += 1
        answer = plan_answer(body)
        prompt = script_key(body)
        first_line = prompt.strip().partition("\n")[0]
        if answer.fail is not None:
            key = (prompt, answer.turn)
            if self._failures[key] < answer.fail.times:
                self._failures[key] += 1
                self.errors += 1
                self._served(Served(status=answer.fail.status, prompt=first_line, turn=answer.turn))
                return _error(
                    answer.fail.status, f"offline model: scripted failure {self._failures[key]}"
                )
        self._served(
            Served(
                status=200,
                prompt=first_line,
                turn=answer.turn,
                command=answer.command,
                input_tokens=answer.input_tokens,
                output_tokens=answer.output_tokens,
            )
        )
        if answer.hang:
            await anyio.sleep_forever()  # cancelled when the client goes away
        if answer.sleep:
            await anyio.sleep(answer.sleep)
        model = str(body.get("model") or "offline")
        if body.get("stream"):
            return await _stream(request, answer, model)
        return web.json_response(_message(answer, model))

    def _served(self, served: Served) -> None:
        if self._on_served is not None:
            self._on_served(served)

    async def handle_count_tokens(self, request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"input_tokens": max(1, len(body) // 4)})

    async def handle_other(self, request: web.Request) -> web.Response:
        # Anything else Claude asks for gets a harmless answer, so it never stalls.
        return web.json_response({})


def _error(status: int, message: str) -> web.Response:
    error_type = _ERROR_TYPES.get(status, "api_error")
    headers = {"retry-after": "1"} if status == 429 else {}
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return web.json_response(body, status=status, headers=headers)


def _content(answer: Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if answer.text:
        blocks.append({"type": "text", "text": answer.text})
    if answer.command:
        blocks.append(
            {
                "type": "tool_use",
                "id": f"toolu_offline_{answer.turn:04d}",
                "name": "Bash",
                "input": {"command": answer.command},
            }
        )
    return blocks


def _stop_reason(answer: Answer) -> str:
    return "tool_use" if answer.command else "end_turn"


def _message(answer: Answer, model: str) -> dict[str, Any]:
    return {
        "id": f"msg_offline_{answer.turn:04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content(answer),
        "stop_reason": _stop_reason(answer),
        "stop_sequence": None,
        "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
    }


def _sse_events(answer: Answer, model: str) -> list[tuple[str, dict[str, Any]]]:
    start = _message(answer, model) | {"content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": answer.input_tokens, "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for index, block in enumerate(_content(answer)):
        if block["type"] == "text":
            opening, delta = (
                {"type": "text", "text": ""},
                {"type": "text_delta", "text": block["text"]},
            )
        else:
            opening = block | {"input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(answer), "stop_sequence": None},
                "usage": {"output_tokens": answer.output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


async def _stream(request: web.Request, answer: Answer, model: str) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    try:
        await response.prepare(request)
        for name, data in _sse_events(answer, model):
            await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away (a stopped container): nothing to answer
    return response


@asynccontextmanager
async def serve_offline_model(
    host: str = "127.0.0.1", port: int = 0, on_served: Callable[[Served], None] | None = None
) -> AsyncIterator[OfflineModel]:
    """Serve the offline model until the block exits; port 0 picks a free port.
    ``on_served`` hears of every Messages request answered (a log's lines)."""
    app = web.Application()
    model = OfflineModel("", on_served)
    app.router.add_post("/v1/messages", model.handle_messages)
    app.router.add_post("/v1/messages/count_tokens", model.handle_count_tokens)
    app.router.add_route("*", "/{tail:.*}", model.handle_other)
    # handler_cancellation: a client that goes away cancels its HANG or SLEEP.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        model.url = f"http://{bound_host}:{bound_port}"
        yield model
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
