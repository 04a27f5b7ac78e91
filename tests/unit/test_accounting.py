from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from scad.runs.accounting import summarise
from scad.runs.envelopes import Checked, ClaudeLine, Envelope, Exited, Resumed, Retried, Started


def claude(seq: int, data: dict[str, Any]) -> Envelope:
    return ClaudeLine(
        seq=seq,
        ts=f"2026-11-27T10:00:{seq:02d}.000Z",
        src="claude",
        data=msgspec.Raw(json.dumps(data).encode()),
    )


def init(seq: int, session: str = "s1") -> Envelope:
    return claude(seq, {"type": "system", "subtype": "init", "session_id": session, "model": "m"})


def assistant(seq: int, message_id: str, tool: bool = False) -> Envelope:
    content = (
        [{"type": "tool_use", "name": "Bash", "input": {}}]
        if tool
        else [{"type": "text", "text": "x"}]
    )
    return claude(
        seq,
        {
            "type": "assistant",
            "message": {
                "id": message_id,
                "content": content,
                "usage": {"input_tokens": 10, "output_tokens": 2},
            },
        },
    )


def result(seq: int, **fields: Any) -> Envelope:
    # 20,000 output tokens could cost $1.50: the claimed $0.50 counts as it is.
    data = {"type": "result", "subtype": "success", "is_error": False, "num_turns": 2, "total_cost_usd": 0.5,
            "duration_ms": 1500, "usage": {"input_tokens": 100, "output_tokens": 20_000, "cache_read_input_tokens": 5}, "result": "ok"}  # fmt: skip
    return claude(seq, data | fields)


def test_results_count_and_resumed_sessions_add_up() -> None:
    events = [
        init(1), assistant(2, "m1", tool=True), assistant(3, "m1"), result(4),
        Exited(seq=5, ts="2026-11-27T10:00:05.000Z", exit_code=0),
        init(6), result(7, num_turns=1, total_cost_usd=0.25, is_error=True, subtype="error_max_turns"),
    ]  # fmt: skip
    summary = summarise(events)
    assert (summary.turns, summary.cost_usd, summary.tool_calls, summary.duration_ms) == (
        3,
        0.75,
        1,
        3000,
    )
    assert (
        summary.usage.input_tokens,
        summary.usage.output_tokens,
        summary.usage.cache_read_tokens,
    ) == (200, 40_000, 10)
    assert [s.outcome for s in summary.sessions] == ["success", "error (error_max_turns)"]
    assert summary.exit_code == 0
    assert summary.last_activity == "2026-11-27T10:00:07.000Z"


def test_a_conversation_still_going_counts_its_messages_once() -> None:
    retry = claude(2, {"type": "system", "subtype": "api_retry", "attempt": 1})
    summary = summarise(
        [init(1), retry, assistant(3, "m1"), assistant(4, "m1"), assistant(5, "m2")]
    )
    assert (summary.usage.input_tokens, summary.usage.output_tokens) == (20, 4)
    assert summary.sessions[0].outcome == "running"
    assert summary.api_retries == 1


def test_unknown_and_text_lines_are_ignored() -> None:
    odd = [
        claude(1, {"type": "stream_event", "event": {}}),
        ClaudeLine(seq=2, ts="t", src="claude", text="plain"),
        ClaudeLine(seq=3, ts="t", src="future"),
        result(4),
    ]
    assert summarise(odd).turns == 0  # a result without an init belongs to no session


def raw(seq: int, data: bytes) -> Envelope:
    return ClaudeLine(
        seq=seq, ts=f"2026-11-27T10:00:{seq:02d}.000Z", src="claude", data=msgspec.Raw(data)
    )


HOSTILE = [
    pytest.param(b'{"type":"assistant","message":{"content":[1]}}', id="block-not-an-object"),
    pytest.param(b'{"type":"assistant","message":{"id":"m9","content":"hi","usage":{"input_tokens":5}}}',
                 id="content-a-string"),
    pytest.param(b'{"type":"assistant","message":{"id":"m9","usage":{"input_tokens":"lots"}}}',
                 id="tokens-a-string"),
    pytest.param(b'{"type":"result","num_turns":"abc"}', id="turns-a-string"),
    pytest.param(b'{"type":"result","num_turns":1,"total_cost_usd":"free"}', id="cost-a-string"),
    pytest.param(b'{"type":"result","num_turns":' + b"9" * 4000 + b"}", id="turns-of-4000-digits"),
    pytest.param(b'{"type":"result","duration_ms":1e400}', id="duration-past-float-range"),
    pytest.param(b'{"type":"system","subtype":"init","session_id":7}', id="session-id-a-number"),
    pytest.param(b'{"type":"system","subtype":"api_retry","attempt":"x"}', id="retry-malformed"),
    pytest.param(b"[1, 2]", id="array"),
    pytest.param(b"null", id="null"),
    pytest.param(b'{"type":"assistant","message":{"con', id="truncated"),
    pytest.param(b'{"type":"result","usage":' + b"[" * 5000 + b"]" * 5000 + b"}", id="deep"),
]  # fmt: skip


@pytest.mark.parametrize("line", HOSTILE)
def test_a_line_that_does_not_fit_counts_nothing(line: bytes) -> None:
    # Still going, so that a line taken for a message, a result or a start would show.
    run = [init(1), assistant(2, "m1", tool=True), assistant(4, "m2")]
    with_line = [*run[:2], raw(3, line), *run[2:]]
    assert summarise(with_line) == summarise(run)


@pytest.mark.parametrize(
    ("claimed", "usage", "counted"),
    [
        # 1,000 output tokens cost at most $0.075 (at the dearest prices): a claim above is cut.
        pytest.param(999999.0, {"output_tokens": 1000}, 0.075, id="forged-cost"),
        pytest.param(1e300, {}, 0.0, id="forged-cost-with-no-tokens"),
        pytest.param(0.02, {"output_tokens": 1000}, 0.02, id="honest-cost"),
        pytest.param(
            0.5, {"input_tokens": 1000, "cache_read_input_tokens": 10**6}, 1.515, id="cache-reads"
        ),
    ],
)
def test_a_claimed_cost_is_capped_at_what_its_tokens_could_cost(
    claimed: float, usage: dict[str, int], counted: float
) -> None:
    """Any process in a run's container can print a result: what it claims to have
    cost counts for no more than its own tokens could cost, whatever the model."""
    summary = summarise([init(1), result(2, total_cost_usd=claimed, usage=usage)])
    assert summary.cost_usd == pytest.approx(min(claimed, counted))


def started(seq: int, cid: str, node: str | None = None) -> Envelope:
    return Started(seq=seq, ts=f"2026-11-27T10:00:{seq:02d}.000Z", cid=cid, node=node)


def exited(seq: int, cid: str, code: int = 0) -> Envelope:
    return Exited(seq=seq, ts=f"2026-11-27T10:00:{seq:02d}.000Z", cid=cid, exit_code=code)


NODE_LOGS = {
    "local": ([started(1, "c1"), init(2), exited(3, "c1")], None),
    "on a node": ([started(1, "t1", "node-1"), init(2)], "node-1"),
    "ended on a node": ([started(1, "t1", "node-1"), init(2), exited(3, "t1", 137)], "node-1"),
    "retried from a node to another": (
        [
            started(1, "t1", "node-1"),
            exited(2, "t1", 137),
            Retried(seq=3),
            started(4, "t2", "node-2"),
        ],
        "node-2",
    ),
    "between a node's attempt and the next": (
        [started(1, "t1", "node-1"), exited(2, "t1", 137), Retried(seq=3, detail="try 2")],
        None,
    ),
    "retried locally after a node": (
        [started(1, "t1", "node-1"), exited(2, "t1", 137), Retried(seq=3), started(4, "c2")],
        None,
    ),
    "resumed locally after a node": (
        [started(1, "t1", "node-1"), exited(2, "t1"), Resumed(seq=3, cid="c2"), init(4)],
        None,
    ),
}


@pytest.mark.parametrize(("name"), NODE_LOGS)
def test_the_summary_names_the_node_of_the_latest_attempt(name: str) -> None:
    events, node = NODE_LOGS[name]
    assert summarise(events).node == node


CHECK_LOGS: dict[str, tuple[list[Any], dict[str, str]]] = {
    "no checks": ([started(1, "c1"), exited(2, "c1")], {}),
    "each check's verdict": (
        [
            started(1, "c1"),
            exited(2, "c1"),
            Checked(seq=3, name="tests", exit_code=0),
            Checked(seq=4, name="lint", exit_code=1),
            Checked(seq=5, name="slow", stop="timed-out"),
        ],
        {"tests": "passed", "lint": "failed", "slow": "timed-out"},
    ),
    "a fix attempt is judged anew": (
        [
            started(1, "c1"),
            exited(2, "c1"),
            Checked(seq=3, name="tests", exit_code=1),
            Checked(seq=4, name="lint", exit_code=0),
            Retried(seq=5, detail="fix attempt 1"),
            started(6, "c2"),
            exited(7, "c2"),
            Checked(seq=8, name="tests", exit_code=0),
        ],
        {"tests": "passed"},
    ),
    "while the next attempt runs": (
        [
            started(1, "c1"),
            exited(2, "c1"),
            Checked(seq=3, name="tests", exit_code=1),
            Retried(seq=4),
            started(5, "c2"),
        ],
        {},
    ),
    "a check that could not start failed": ([Checked(seq=1, name="tests")], {"tests": "failed"}),
}


@pytest.mark.parametrize("name", CHECK_LOGS)
def test_the_summary_holds_the_latest_attempts_check_verdicts(name: str) -> None:
    events, verdicts = CHECK_LOGS[name]
    assert summarise(events).checks == verdicts
