from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from scad.runs.envelopes import ClaudeLine
from scad.runs.streamjson import (
    ApiRetry,
    Assistant,
    AssistantMessage,
    Block,
    Init,
    Malformed,
    Result,
    StreamEvent,
    TextPart,
    ToolInput,
    Unknown,
    Usage,
    User,
    UserBlock,
    UserMessage,
    claude_event,
    decode_event,
)

SID = "0b6f1c7e-3a1d-4f7e-9d7a-1f2e3d4c5b6a"
USAGE = {
    "input_tokens": 4,
    "cache_creation_input_tokens": 1234,
    "cache_read_input_tokens": 15000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1234, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 26,
    "service_tier": "standard",
}
TYPED_USAGE = Usage(
    input_tokens=4,
    output_tokens=26,
    cache_read_input_tokens=15000,
    cache_creation_input_tokens=1234,
)


def line(data: Any) -> bytes:
    return json.dumps(data).encode()


# Shaped like Claude Code 2.1's output, with the fields the model leaves out.
KINDS = [
    pytest.param(
        {"type": "system", "subtype": "init", "cwd": "/work/repo", "session_id": SID,
         "tools": ["Bash", "Read"], "mcp_servers": [], "model": "claude-sonnet-4-5",
         "permissionMode": "bypassPermissions", "claude_code_version": "2.1.3", "uuid": "u"},
        Init(session_id=SID, model="claude-sonnet-4-5", claude_code_version="2.1.3",
             cwd="/work/repo", tools=["Bash", "Read"]),
        id="system-init",
    ),
    pytest.param(
        {"type": "system", "subtype": "api_retry", "attempt": 2, "max_retries": 10,
         "retry_delay_ms": 1157.73, "error_status": 429, "error": "rate_limit", "session_id": SID},
        ApiRetry(attempt=2, max_retries=10, retry_delay_ms=1157.73, error_status=429,
                 error="rate_limit"),
        id="system-api-retry",
    ),
    pytest.param(
        {"type": "assistant", "message": {
            "model": "claude-sonnet-4-5", "id": "msg_1", "type": "message", "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look.", "citations": None},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash",
                 "input": {"command": "ls -la", "description": "List"}},
            ],
            "stop_reason": None, "usage": USAGE}, "parent_tool_use_id": None, "session_id": SID},
        Assistant(session_id=SID, message=AssistantMessage(id="msg_1", usage=TYPED_USAGE, content=[
            Block(type="text", text="Let me look."),
            Block(type="tool_use", id="toolu_1", name="Bash", input=ToolInput(command="ls -la")),
        ])),
        id="assistant",
    ),
    pytest.param(
        {"type": "user", "message": {"role": "user", "content": [
            {"tool_use_id": "toolu_1", "type": "tool_result", "content": "a\nb", "is_error": False},
            {"tool_use_id": "toolu_2", "type": "tool_result", "is_error": True,
             "content": [{"type": "text", "text": "no"}, {"type": "image", "source": {}}]},
        ]}, "session_id": SID, "tool_use_result": {"stdout": "a\nb", "stderr": ""}},
        User(session_id=SID, message=UserMessage(content=[
            UserBlock(type="tool_result", tool_use_id="toolu_1", content="a\nb", is_error=False),
            UserBlock(type="tool_result", tool_use_id="toolu_2", is_error=True,
                      content=[TextPart(type="text", text="no"), TextPart(type="image")]),
        ])),
        id="user-tool-results",
    ),
    pytest.param(
        {"type": "user", "message": {"role": "user", "content": "Fix the test."}},
        User(message=UserMessage(content="Fix the test.")),
        id="user-prompt",
    ),
    pytest.param(
        {"type": "result", "subtype": "success", "is_error": True, "duration_ms": 84512,
         "duration_api_ms": 80123, "num_turns": 41, "result": "API Error: 429",
         "session_id": SID, "total_cost_usd": 0.4123, "usage": USAGE, "modelUsage": {},
         "api_error_status": 429, "terminal_reason": "api_error"},
        Result(subtype="success", is_error=True, num_turns=41, duration_ms=84512,
               total_cost_usd=0.4123, usage=TYPED_USAGE, session_id=SID,
               result="API Error: 429", api_error_status=429),
        id="result",
    ),
    pytest.param(
        {"session_id": SID, "subtype": "error_max_turns", "type": "result", "total_cost_usd": 1},
        Result(subtype="error_max_turns", session_id=SID, total_cost_usd=1.0),
        id="type-not-first-and-fields-missing",
    ),
    pytest.param({"type": "stream_event", "event": {}}, Unknown(type="stream_event"),
                 id="unknown-type"),
    pytest.param({"type": "rate_limit_event", "subtype": "warning"},
                 Unknown(type="rate_limit_event", subtype="warning"), id="unknown-type-subtype"),
    pytest.param({"type": "system", "subtype": "compact_boundary", "compact_metadata": {}},
                 Unknown(type="system", subtype="compact_boundary"), id="unknown-system-subtype"),
    pytest.param({"type": "system"}, Unknown(type="system"), id="system-without-subtype"),
    pytest.param({"event": "x"}, Unknown(), id="object-without-type"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), KINDS)
def test_each_kind_decodes_to_its_struct(data: dict[str, Any], expected: StreamEvent) -> None:
    assert decode_event(line(data)) == expected


def test_blocks_of_kinds_not_modelled_keep_the_message() -> None:
    content = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "redacted_thinking", "data": "xyz"},
        {"type": "image", "source": {"type": "base64", "data": "AAAA"}},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
         "input": {"query": "msgspec"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1",
         "content": {"type": "web_search_tool_result_error", "error_code": "unavailable"}},
        {"type": "tool_use", "name": "mcp__db__query", "input": {"pattern": {"re": "x"}}},
        {"type": "text", "text": "Found it."},
    ]  # fmt: skip
    event = decode_event(line({"type": "assistant", "message": {"id": "m", "content": content}}))
    assert event == Assistant(
        message=AssistantMessage(
            id="m",
            content=[
                Block(type="thinking"),
                Block(type="redacted_thinking"),
                Block(type="image"),
                Block(type="server_tool_use", id="srvtoolu_1", name="web_search",
                      input=ToolInput()),
                Block(type="web_search_tool_result"),
                Block(type="tool_use", name="mcp__db__query",
                      input=ToolInput(pattern={"re": "x"})),
                Block(type="text", text="Found it."),
            ],
        )
    )  # fmt: skip


def test_an_envelope_decodes_its_data_and_one_without_data_holds_no_event() -> None:
    data = msgspec.Raw(b'{"type":"system","subtype":"init","session_id":"s"}')
    assert claude_event(ClaudeLine(seq=1, ts="t", src="claude", data=data)) == Init(session_id="s")
    assert claude_event(ClaudeLine(seq=2, ts="t", src="claude", text="plain")) is None


DEEP = b"[" * 100_000 + b"]" * 100_000
HOSTILE = [
    pytest.param(b'{"type":"assistant","message":{"content":[1]}}', "assistant", None,
                 id="block-not-an-object"),
    pytest.param(b'{"type":"assistant","message":{"content":"hi"}}', "assistant", None,
                 id="assistant-content-a-string"),
    pytest.param(b'{"type":"assistant","message":null}', "assistant", None, id="message-null"),
    pytest.param(b'{"type":"assistant","message":{"content":[{"type":"text","text":7}]}}',
                 "assistant", None, id="text-not-a-string"),
    pytest.param(b'{"type":"assistant","message":{"content":[{"type":"tool_use","input":5}]}}',
                 "assistant", None, id="tool-input-not-an-object"),
    pytest.param(b'{"type":"assistant","message":{"usage":{"input_tokens":-5}}}', "assistant",
                 None, id="negative-tokens"),
    pytest.param(b'{"type":"user","message":{"content":[{"type":"tool_result","content":{}}]}}',
                 "user", None, id="tool-result-content-an-object"),
    pytest.param(b'{"type":"user","message":{"content":[{"type":"tool_result","content":["a"]}]}}',
                 "user", None, id="tool-result-part-not-an-object"),
    pytest.param(b'{"type":"user","message":{"content":[{"type":"tool_result","is_error":"yes"}]}}',
                 "user", None, id="is-error-not-a-bool"),
    pytest.param(b'{"type":"result","num_turns":"abc"}', "result", None, id="turns-a-string"),
    pytest.param(b'{"type":"result","num_turns":true}', "result", None, id="turns-a-bool"),
    pytest.param(b'{"type":"result","num_turns":1.5}', "result", None, id="turns-a-float"),
    pytest.param(b'{"type":"result","num_turns":' + b"9" * 30 + b"}", "result", None,
                 id="turns-past-64-bits"),
    pytest.param(b'{"type":"result","num_turns":' + b"9" * 5000 + b"}", "result", None,
                 id="turns-of-5000-digits"),
    pytest.param(b'{"type":"result","total_cost_usd":1e400}', "result", None,
                 id="cost-past-float-range"),
    pytest.param(b'{"type":"result","usage":[]}', "result", None, id="usage-an-array"),
    pytest.param(b'{"type":"result","result":{"text":"ok"}}', "result", None,
                 id="result-an-object"),
    pytest.param(b'{"type":"system","subtype":"init","tools":"all"}', "system", "init",
                 id="init-tools-a-string"),
    pytest.param(b'{"type":"system","subtype":"api_retry","attempt":"x"}', "system",
                 "api_retry", id="retry-attempt-a-string"),
    pytest.param(b'{"type":"system","subtype":5}', None, None, id="subtype-a-number"),
    pytest.param(b'{"type":5}', None, None, id="type-a-number"),
    pytest.param(b'{"type":["assistant"]}', None, None, id="type-an-array"),
    pytest.param(b"[]", None, None, id="array"),
    pytest.param(b"42", None, None, id="number"),
    pytest.param(b'"assistant"', None, None, id="string"),
    pytest.param(b"null", None, None, id="null"),
    pytest.param(b"", None, None, id="empty"),
    pytest.param(b"   ", None, None, id="blank"),
    pytest.param(b'{"type":"assistant","message":{"con', None, None, id="truncated"),
    pytest.param(b"hello", None, None, id="not-json"),
    pytest.param(b'{"type":"result","total_cost_usd":NaN}', None, None, id="nan"),
    pytest.param(b'{"type":"\xff\xfe"}', None, None, id="invalid-utf8"),
    pytest.param(b'{"type":"result"}{"type":"result"}', None, None, id="two-objects"),
    pytest.param(DEEP, None, None, id="deep-array"),
    pytest.param(b'{"type":"stream_event","event":' + DEEP + b"}", None, None,
                 id="deep-in-unknown-kind"),
    pytest.param(b'{"type":"assistant","message":{"content":[{"type":"tool_use","input":'
                 b'{"command":' + DEEP + b"}}]}}", None, None, id="deep-in-tool-input"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "kind", "subtype"), HOSTILE)
def test_a_line_that_does_not_fit_is_malformed_not_an_exception(
    data: bytes, kind: str | None, subtype: str | None
) -> None:
    event = decode_event(data)
    assert isinstance(event, Malformed)
    assert (event.type, event.subtype) == (kind, subtype)
    assert event.error


def test_the_reason_names_where_the_line_went_wrong() -> None:
    assert decode_event(b'{"type":"result","num_turns":"abc"}') == Malformed(
        type="result", error="Expected `int | null`, got `str` - at `$.num_turns`"
    )
