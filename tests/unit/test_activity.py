from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from scad.runs.activity import activity_lines
from scad.runs.envelopes import ClaudeLine, Exited, Started
from scad.text import NODE_WIDTH


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_shown_in_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    envelope = Started(seq=1, ts="2026-11-27T10:11:12.000Z")
    assert activity_lines(envelope) == ["15:41:12 [scad] started"]


def claude(data: dict[str, Any]) -> list[str]:
    return activity_lines(
        ClaudeLine(
            seq=1,
            ts="2026-11-27T10:11:12.000Z",
            src="claude",
            data=msgspec.Raw(json.dumps(data).encode()),
        )
    )


def test_one_line_per_thing_the_agent_did() -> None:
    assert claude(
        {
            "type": "system",
            "subtype": "init",
            "session_id": "s",
            "model": "m",
            "claude_code_version": "2.1",
        }
    ) == ["10:11:12 session s started: model m, Claude Code 2.1"]
    message = {
        "content": [
            {"type": "text", "text": "Let me\nlook."},
            {"type": "tool_use", "name": "Bash", "input": {"command": "ls -la"}},
        ]
    }
    assert claude({"type": "assistant", "message": message}) == [
        "10:11:12 Let me look.",
        "10:11:12 → Bash: ls -la",
    ]
    results = {
        "content": [
            {"type": "tool_result", "content": "a\nb\nc"},
            {"type": "tool_result", "is_error": True, "content": [{"type": "text", "text": "no"}]},
        ]
    }
    assert claude({"type": "user", "message": results}) == [
        "10:11:12   ← a (+2 lines)",
        "10:11:12   ✗ no",
    ]
    done = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "num_turns": 3,
        "total_cost_usd": 0.01234,
        "duration_ms": 2500,
        "result": "All good.",
    }
    assert claude(done) == ["10:11:12 done: 3 turns, $0.0123, 2.5 s (success)"]
    failed = done | {"is_error": True, "subtype": "error_during_execution", "result": "API Error"}
    assert claude(failed) == [
        "10:11:12 error: 3 turns, $0.0123, 2.5 s (error_during_execution)",
        "10:11:12   API Error",
    ]
    retry = {
        "type": "system",
        "subtype": "api_retry",
        "attempt": 2,
        "max_retries": 10,
        "error_status": 429,
        "error": "rate_limit",
        "retry_delay_ms": 1500,
    }
    assert claude(retry) == ["10:11:12 API retry 2/10: 429 rate_limit, next in 1.5 s"]


def test_unknown_types_print_nothing_and_scad_events_print_one_line() -> None:
    assert claude({"type": "stream_event"}) == []
    scad = Exited(seq=1, ts="2026-11-27T10:11:12.000Z", exit_code=1, stderr="boom\nbang")
    assert activity_lines(scad) == ["10:11:12 [scad] exited with code 1 (boom bang)"]


def test_long_text_is_cut_to_one_line() -> None:
    (line,) = claude(
        {"type": "assistant", "message": {"content": [{"type": "text", "text": "x" * 500}]}}
    )
    assert len(line) == len("10:11:12 ") + 160 and line.endswith("…")


def test_escape_sequences_the_agent_wrote_are_shown_not_obeyed() -> None:
    clear = "\x1b[2J\x1b]0;pwned\x07"
    lines = claude(
        {
            "type": "assistant",
            "message": {
                "content": [
                    {"type": "text", "text": f"hi{clear}"},
                    {"type": "tool_use", "name": f"Bash{clear}", "input": {"command": clear}},
                ]
            },
        }
    )
    assert lines == [
        "10:11:12 hi\\x1b[2J\\x1b]0;pwned\\x07",
        "10:11:12 → Bash\\x1b[2J\\x1b]0;pwned\\x07: \\x1b[2J\\x1b]0;pwned\\x07",
    ]


def raw(data: bytes) -> list[str]:
    return activity_lines(
        ClaudeLine(seq=1, ts="2026-11-27T10:11:12.000Z", src="claude", data=msgspec.Raw(data))
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            b'{"type":"assistant","message":{"content":[1]}}',
            ["10:11:12 unreadable assistant line: Expected `object`, got `int` - at `$.message.content[0]`"],
            id="block-not-an-object",
        ),
        pytest.param(
            b'{"type":"result","subtype":"success","num_turns":"abc"}',
            ["10:11:12 unreadable result/success line: Expected `int | null`, got `str` - at `$.num_turns`"],
            id="turns-a-string",
        ),
        pytest.param(
            b'{"type":"system","subtype":"api_retry","retry_delay_ms":"soon"}',
            ["10:11:12 unreadable system/api_retry line: Expected `float | null`, got `str` - at `$.retry_delay_ms`"],
            id="retry-delay-a-string",
        ),
        pytest.param(
            b'{"type":"user","message":{"content":[{"type":"tool_result","content":{"a":1}}]}}',
            ["10:11:12 unreadable user line: Expected `str | array | null`, got `object` - at `$.message.content[0].content`"],
            id="tool-result-an-object",
        ),
        pytest.param(b"[1, 2]", ["10:11:12 unreadable line: Expected `object`, got `array`"], id="array"),
        pytest.param(b'{"type":"assistant","message":{"con', ["10:11:12 unreadable line: Input data was truncated"], id="truncated"),
        pytest.param(
            b'{"type":"assistant","message":{"content":[{"type":"tool_use","input":{"command":'
            + b"[" * 5000 + b"]" * 5000 + b"}}]}}",
            ["10:11:12 unreadable line: maximum recursion depth exceeded while deserializing an object"],
            id="deep",
        ),
        pytest.param(b'{"type":"\\u001b[2Jevil","subtype":7}', ["10:11:12 unreadable line: Expected `str | null`, got `int` - at `$.subtype`"], id="type-with-escapes"),
        pytest.param(b'{"type":"\\u001b[2Jevil"}', [], id="unknown-type-with-escapes"),
        pytest.param(b'{"type":"system","subtype":"hook_response"}', [], id="unknown-subtype"),
    ],
)  # fmt: skip
def test_a_line_that_does_not_fit_is_shown_as_unreadable(data: bytes, expected: list[str]) -> None:
    assert raw(data) == expected


def test_odd_but_valid_shapes_are_shown() -> None:
    blocks = [
        {"type": "thinking", "thinking": "hmm"},
        {"type": "tool_use", "name": "mcp__db__query", "input": {"pattern": ["a", 1]}},
        {"type": "tool_use", "name": "Read"},
    ]
    assert claude({"type": "assistant", "message": {"content": blocks}}) == [
        "10:11:12 → mcp__db__query: ['a', 1]",
        "10:11:12 → Read: ",
    ]
    assert claude({"type": "user", "message": {"content": "Fix the test."}}) == []
    empty = {"content": [{"type": "tool_result", "content": [{"type": "image", "source": {}}]}]}
    assert claude({"type": "user", "message": empty}) == ["10:11:12   ← (no output)"]
    assert claude({"type": "result"}) == ["10:11:12 done: None turns, $0.0000, 0.0 s (None)"]


def test_no_field_an_agent_prints_makes_a_line_longer_than_its_bound() -> None:
    huge = "y" * 100_000
    shown = [
        *claude({"type": "system", "subtype": "init", "session_id": huge, "model": huge}),
        *claude({"type": "system", "subtype": "api_retry", "error": huge, "error_status": 500}),
        *claude({"type": "assistant", "message": {"content": [
            {"type": "tool_use", "name": huge, "input": {"command": "ls"}}]}}),
        *claude({"type": "result", "subtype": huge, "is_error": False, "num_turns": 1}),
    ]  # fmt: skip
    assert len(shown) == 4 and all(len(line) <= 4 * 160 for line in shown), [len(s) for s in shown]


def started_on(node: str | None) -> list[str]:
    return activity_lines(Started(seq=1, ts="2026-11-27T10:11:12.000Z", cid="t1", node=node))


def test_a_start_on_a_swarm_names_its_node() -> None:
    assert started_on("node-2") == ["10:11:12 [scad] started (on node node-2)"]
    assert started_on(None) == ["10:11:12 [scad] started"]


def test_a_node_name_is_shown_escaped_and_cut() -> None:
    assert started_on("evil\x1b]0;pwned\x07\x1b[2J") == [
        "10:11:12 [scad] started (on node evil\\x1b]0;pwned\\x07\\x1b[2J)"
    ]
    (line,) = started_on("n" * 10_000)
    assert line == f"10:11:12 [scad] started (on node {'n' * (NODE_WIDTH - 1)}…)"
    (line,) = started_on("\x1b" * 10_000)
    assert len(line) <= len("10:11:12 [scad] started (on node )") + NODE_WIDTH
