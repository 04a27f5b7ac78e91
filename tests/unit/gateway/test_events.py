"""The gateway's events: written whole, read back, added up."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.gateway import events_path, register_run
from scad.gateway._events import (
    BudgetRefused,
    Exchange,
    GatewayUsage,
    encode_event,
    fold,
    gateway_usage,
    read_gateway_events,
)
from scad.gateway._journal import Journal
from scad.home import Home


def exchange(status: int = 200, **fields: object) -> Exchange:
    return Exchange(ts="t", method="POST", path="/v1/messages", status=status, **fields)  # type: ignore[arg-type]


EVENTS = [
    exchange(input_tokens=100, output_tokens=10, cache_read_tokens=5, cost_usd=0.25, complete=True),
    exchange(429, retry_after=7.0, ratelimit={"anthropic-ratelimit-requests-remaining": "0"}),
    exchange(input_tokens=50, output_tokens=20, cache_creation_tokens=3, cost_usd=0.5),
    BudgetRefused(ts="t", scope="run", spent_usd=0.75, cap_usd=0.5),
    exchange(529),
]


def test_fold_adds_up_usage_and_counts_limits() -> None:
    assert fold(EVENTS) == GatewayUsage(
        requests=4,
        input_tokens=150,
        output_tokens=30,
        cache_read_tokens=5,
        cache_creation_tokens=3,
        cost_usd=0.75,
        rate_limited=2,
        last_retry_after_ms=7000,
        budget_refusals=1,
    )


def test_files_read_back_skipping_what_is_not_an_event(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(
        encode_event(EVENTS[0])
        + b'{"event": "from-a-later-version", "ts": "t"}\n'
        + b"not json\n"
        + encode_event(EVENTS[1])
        + encode_event(EVENTS[2])[:-10]  # a line being written
    )
    second.write_bytes(b"".join(encode_event(e) for e in EVENTS[2:]))
    assert list(read_gateway_events(first)) == EVENTS[:2]
    assert gateway_usage([first, second, tmp_path / "missing.jsonl"]) == fold(EVENTS)


def test_a_linked_file_reads_as_nothing(tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    real.write_bytes(encode_event(EVENTS[0]))
    (tmp_path / "link.jsonl").symlink_to(real)
    assert gateway_usage([tmp_path / "link.jsonl"]) == GatewayUsage()


@pytest.mark.anyio
async def test_a_journal_closed_while_it_holds_events_writes_them_all(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.run_dir("run-a").mkdir(parents=True)
    register_run(home, "run-a")
    journal = Journal(home)
    for event in EVENTS:
        await journal.record("run-a", event)
    journal.close()  # before the writer took any: it drains the stream and ends
    await journal.run()
    assert list(read_gateway_events(events_path(home, "run-a"))) == EVENTS
