"""A batch's timeline folded from hand-written batch and run logs, and read from disk."""

from __future__ import annotations

import msgspec
import pytest

from scad.batch.events import (
    AttemptEnded,
    AttemptStarted,
    BatchEvent,
    BudgetSpent,
    Ended,
    LimitMoved,
    SupervisorTook,
)
from scad.batch.store import BatchItem, BatchManifest, BatchOptions, BatchPaths, save_manifest
from scad.home import Home
from scad.reports.timeline import Bar, Segment, Step, Timeline, fold_timeline, read_timeline
from scad.runs.envelopes import Created, Exited, Retried, ScadEvent, Started, encode_event
from scad.runs.gatewaylog import Exchange

pytestmark = pytest.mark.anyio

CREATED = "2026-03-02T14:00:00.000Z"


def at(seconds: float) -> str:
    """A timestamp ``seconds`` after the batch was made."""
    minutes, rest = divmod(seconds, 60)
    return f"2026-03-02T14:{int(minutes):02d}:{rest:06.3f}Z"


def manifest(tags: list[str], *, budget: float | None = None, parallel: int = 4) -> BatchManifest:
    return BatchManifest(
        batch_id="p-b-Mar02-1400", config="p", tag="b", created=CREATED, image="i", source="-",
        options=BatchOptions(parallel=parallel, budget_usd=budget, retries=1),
        items=[BatchItem(index=n, tag=tag, prompt="x") for n, tag in enumerate(tags, start=1)],
    )  # fmt: skip


def stamped(event: BatchEvent, seconds: float) -> BatchEvent:
    return msgspec.structs.replace(event, ts=at(seconds))


def run_event(event: ScadEvent, seconds: float) -> ScadEvent:
    return msgspec.structs.replace(event, ts=at(seconds))


#: Item 1 crashed, waited out a backoff of 8 s, was prepared again and succeeded;
#: item 2 waited for a slot and is still running; a rate limit halved the limit.
BATCH: list[BatchEvent] = [
    stamped(SupervisorTook(pid=7), 1),
    stamped(LimitMoved(limit=2, cause="ceiling"), 1),
    stamped(AttemptStarted(item=1, run_id="r1", attempt=1), 3),
    stamped(LimitMoved(limit=1, cause="rate-limited", status=429, detail="x"), 5),
    stamped(
        AttemptEnded(
            item=1,
            run_id="r1",
            attempt=1,
            status="crashed",
            final=False,
            detail="exit 137",
            cost_usd=0.5,
            backoff_s=8.0,
        ),
        10,
    ),
    stamped(AttemptStarted(item=1, run_id="r1", attempt=2), 21),
    stamped(
        AttemptEnded(item=1, run_id="r1", attempt=2, status="succeeded", final=True, cost_usd=0.25),
        30,
    ),
    stamped(AttemptStarted(item=2, run_id="r2", attempt=1), 32),
]
RUNS: dict[str, list[ScadEvent]] = {
    "r1": [
        run_event(Created(), 2), run_event(Started(), 3), run_event(Exited(exit_code=137), 9.5),
        run_event(Retried(detail="retry 1 of 1: crashed"), 19),
        run_event(Started(), 21), run_event(Exited(exit_code=0), 29),
    ],
    "r2": [run_event(Created(), 31), run_event(Started(), 32)],
}  # fmt: skip


def folded(**options: object) -> Timeline:
    return fold_timeline(manifest(["one", "two"], **options), BATCH, RUNS, {}, at(40))  # type: ignore[arg-type]


def test_a_retry_gives_two_bars_in_its_lane_with_its_backoff_between() -> None:
    lane = folded().lanes[0]
    assert lane.bars == [
        Bar(attempt=1, start=2.0, end=10.0, started=3.0, exited=9.5, status="crashed",
            run_id="r1", detail="exit 137"),
        Bar(attempt=2, start=19.0, end=30.0, started=21.0, exited=29.0, status="succeeded",
            run_id="r1"),
    ]  # fmt: skip
    assert lane.waits == [
        Segment(kind="wait", start=1.0, end=2.0),  # for a slot, until it was prepared
        Segment(kind="backoff", start=10.0, end=18.0),
        Segment(kind="wait", start=18.0, end=19.0),
    ]
    assert lane.status == "succeeded"


def test_a_run_still_going_has_an_open_bar_and_the_timeline_runs_to_now() -> None:
    timeline = folded()
    (bar,) = timeline.lanes[1].bars
    assert (bar.start, bar.end, bar.status) == (31.0, None, "running")
    assert timeline.lanes[1].waits == [Segment(kind="wait", start=1.0, end=31.0)]
    assert timeline.duration == 40.0 and not timeline.ended


def test_a_cut_for_rate_limits_is_a_step_labelled_with_its_cause() -> None:
    assert folded().steps == [
        Step(t=1.0, limit=2, cause="ceiling", label="2 at once"),
        Step(t=5.0, limit=1, cause="rate-limited", status=429, label="API 429: 1"),
    ]


def test_a_limit_move_from_an_earlier_version_is_labelled_by_what_it_said() -> None:
    events = [stamped(LimitMoved(limit=2, detail="concurrency 4 -> 2: the API answered 529"), 1)]
    timeline = fold_timeline(manifest(["one"]), events, {}, {}, at(2))
    assert [s.label for s in timeline.steps] == ["concurrency 4 -> 2: the API answered 529"]


def test_spend_only_rises_to_the_total_against_the_budget() -> None:
    timeline = folded(budget=2.0)
    assert timeline.budget_usd == 2.0
    assert [(p.t, p.usd) for p in timeline.spend] == [(0.0, 0.0), (10.0, 0.5), (30.0, 0.75)]
    assert not timeline.spend_measured  # Claude's figures: no run had the gateway


def test_spend_is_the_gateways_measure_where_it_measured_and_never_falls() -> None:
    measured = {
        "r1": [
            Exchange(ts=at(4), method="POST", path="/v1/messages", status=200, cost_usd=0.1),
            Exchange(ts=at(6), method="POST", path="/v1/messages", status=200, cost_usd=-5.0),
            Exchange(ts=at(22), method="POST", path="/v1/messages", status=200, cost_usd=0.2),
        ],
        "r2": [],
    }
    timeline = fold_timeline(manifest(["one", "two"]), BATCH, RUNS, measured, at(40))
    usd = [p.usd for p in timeline.spend]
    assert usd == sorted(usd) and usd[-1] == pytest.approx(0.3)
    assert timeline.spend_measured


def test_the_budget_spent_and_the_end_are_marks() -> None:
    events = [*BATCH, stamped(BudgetSpent(cost_usd=2.5, detail="d"), 35), stamped(Ended(), 36)]
    timeline = fold_timeline(manifest(["one", "two"]), events, RUNS, {}, at(50))
    assert [(m.kind, m.t) for m in timeline.marks if m.kind != "supervisor"] == [
        ("budget", 35.0),
        ("ended", 36.0),
    ]
    assert timeline.ended and timeline.duration == 36.0


def test_the_timeline_is_json_for_a_page() -> None:
    timeline = folded(budget=2.0)
    assert msgspec.json.decode(msgspec.json.encode(timeline), type=Timeline) == timeline


async def test_read_from_disk_claudes_lines_unread_and_a_huge_line_skipped(
    tmp_path: object,
) -> None:
    home = Home(tmp_path)  # type: ignore[arg-type]
    made = manifest(["one", "two"])
    paths = BatchPaths(home, made.batch_id)
    paths.root.mkdir(parents=True)
    save_manifest(paths, made)
    written = b"".join(msgspec.json.encode(event) + b"\n" for event in BATCH)
    (paths.root / "events.jsonl").write_bytes(written + b'{"event":"started","item":2')  # partial
    for run_id, events in RUNS.items():
        run = home.root / "runs" / run_id
        run.mkdir(parents=True)
        lines = [encode_event(e, seq, e.ts) for seq, e in enumerate(events, start=1)]
        # An agent's lines: one forging scad's events, one longer than anything read.
        forged = encode_event(run_event(Created(), 2.5), 99, at(2.5))
        lines.insert(1, b'{"seq":50,"ts":"%s","src":"claude","data":%s}' % (at(2).encode(), forged))
        lines.insert(2, b'{"seq":51,"ts":"x","src":"claude","text":"' + b"a" * (3 << 20) + b'"}')
        (run / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    timeline = await read_timeline(home, made.batch_id)
    expected = fold_timeline(made, BATCH, RUNS, {}, at(40))
    assert timeline.lanes == expected.lanes
    assert timeline.steps == expected.steps
