"""A batch's timeline folded from its logs. Pure: no files, no clock.

The batch's log is fed one event at a time (:class:`TimelineFold`), so a long log
is never held whole: each item keeps only its attempts. Where an attempt began to
be prepared and when its container exited come from its run's own log, handed in
at the end with what the gateway measured of each run's spend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import msgspec

from ...batch.events import (
    AttemptEnded,
    AttemptStarted,
    BatchEvent,
    BudgetSpent,
    Ended,
    LimitMoved,
    Requeued,
    Stopping,
    SupervisorTook,
)
from ...batch.store import BatchManifest
from ...runs.envelopes import (
    Cancelled,
    Created,
    Exited,
    Lost,
    Resumed,
    Retried,
    ScadEvent,
    Started,
)
from ...runs.gatewaylog import Exchange
from ...runs.records import parse_iso
from ...runs.states import ItemStatus
from ._model import Bar, Lane, Mark, Segment, SpendPoint, Step, Timeline

__all__ = ["RUN_EVENTS", "TimelineFold", "fold_timeline"]

#: The kinds of a run's own events the timeline reads: an attempt being prepared,
#: its container starting, its container's end.
RUN_EVENTS = (Created, Retried, Started, Resumed, Exited, Lost, Cancelled)
_PREPARED = (Created, Retried)
_OVER = (Exited, Lost, Cancelled)

WaitKind = Literal["wait", "backoff"]


class _Attempt(msgspec.Struct, kw_only=True):
    number: int
    run_id: str | None
    #: When the item was ready for this attempt (a pass began, a backoff ended),
    #: and what it waited for from then.
    ready: float | None
    waited: WaitKind
    started: float | None = None
    end: float | None = None
    status: ItemStatus = "running"
    detail: str | None = None
    cost_usd: float | None = None


class _Item(msgspec.Struct, kw_only=True):
    index: int
    tag: str
    status: ItemStatus = "queued"
    attempts: list[_Attempt] = []
    backoffs: list[Segment] = []
    #: When it was last made ready for an attempt none has begun yet.
    ready: float | None = None
    waited: WaitKind = "wait"
    final: bool = False

    def attempt(self, number: int, run_id: str | None) -> _Attempt:
        """Its attempt ``number``, begun now if it had not."""
        if self.attempts and self.attempts[-1].number == number and self.attempts[-1].end is None:
            return self.attempts[-1]
        begun = _Attempt(number=number, run_id=run_id, ready=self.ready, waited=self.waited)
        self.attempts.append(begun)
        self.ready, self.waited = None, "wait"
        return begun


class TimelineFold:
    """The batch's log, fed in order, folded into its timeline."""

    def __init__(self, manifest: BatchManifest) -> None:
        self.manifest = manifest
        self.origin = parse_iso(manifest.created)
        self.items = {i.index: _Item(index=i.index, tag=i.tag) for i in manifest.items}
        self.steps: list[Step] = []
        self.marks: list[Mark] = []
        self.ended = False
        self.last = 0.0

    @property
    def run_ids(self) -> list[str]:
        """The runs the batch's log names, in item order."""
        named = {a.run_id for i in self.items.values() for a in i.attempts if a.run_id}
        return sorted(named)

    def seconds(self, ts: str) -> float | None:
        """``ts`` in seconds since the batch was made; None when it is no timestamp."""
        try:
            return max(0.0, (parse_iso(ts) - self.origin).total_seconds())
        except ValueError:
            return None

    def feed(self, event: BatchEvent) -> None:
        t = self.seconds(event.ts)
        if t is None:
            return
        self.last = max(self.last, t)
        match event:
            case SupervisorTook():
                self.ended = False
                self.marks.append(Mark(t=t, kind="supervisor", label=f"supervisor {event.pid}"))
                for item in self.items.values():
                    busy = bool(item.attempts) and item.attempts[-1].end is None
                    if not item.final and not busy and item.ready is None:
                        item.ready, item.waited = t, "wait"
            case AttemptStarted() if (going := self.items.get(event.item)) is not None:
                attempt = going.attempt(event.attempt, event.run_id)
                attempt.run_id, attempt.started = event.run_id, t
                going.status, going.final = "running", False
            case AttemptEnded() if (ending := self.items.get(event.item)) is not None:
                self._ended(ending, event, t)
            case LimitMoved():
                self.steps.append(_step(t, event))
            case BudgetSpent():
                label = f"budget spent: ${_usd(event.cost_usd):.2f}"
                self.marks.append(Mark(t=t, kind="budget", label=label))
            case Requeued():
                for index in event.items:
                    if (again := self.items.get(index)) is not None:
                        again.final, again.ready, again.waited = False, t, "wait"
                        again.status = "retrying" if again.attempts else "queued"
                self.ended = False
            case Stopping():
                self.marks.append(Mark(t=t, kind="stopping", label=event.detail or "stop asked"))
            case Ended():
                self.ended = True
                self.marks.append(Mark(t=t, kind="ended", label="ended"))

    def _ended(self, item: _Item, event: AttemptEnded, t: float) -> None:
        attempt = item.attempt(event.attempt, event.run_id)
        attempt.run_id = event.run_id or attempt.run_id
        attempt.end, attempt.status, attempt.detail = t, event.status, event.detail
        attempt.cost_usd = event.cost_usd
        item.final = event.final
        item.status = event.status if event.final else "retrying"
        if event.final:
            return
        item.ready, item.waited = t, "wait"
        if event.backoff_s is not None and math.isfinite(event.backoff_s):
            after = t + max(0.0, event.backoff_s)
            item.backoffs.append(Segment(kind="backoff", start=t, end=after))
            item.ready = after
        elif event.status != "checks-failed":
            item.waited = "backoff"  # a log from before backoffs were logged: the gap is one

    def timeline(
        self,
        runs: Mapping[str, Sequence[ScadEvent]],
        measured: Mapping[str, Sequence[Exchange]],
        now: str,
    ) -> Timeline:
        """The timeline, given each run's own events (:data:`RUN_EVENTS`), what the
        gateway measured of each run it knew (its exchanges), and the time now."""
        duration = self.last if self.ended else max(self.last, self.seconds(now) or 0.0)
        lanes = [self._lane(item, runs) for item in self.items.values()]
        spend, every_run_measured = self._spend(measured)
        options = self.manifest.options
        return Timeline(
            batch_id=self.manifest.batch_id,
            config=self.manifest.config,
            duration=duration,
            ended=self.ended,
            parallel=options.parallel,
            budget_usd=options.budget_usd,
            spend_measured=every_run_measured,
            lanes=lanes,
            steps=self.steps,
            spend=spend,
            marks=self.marks,
        )

    def _lane(self, item: _Item, runs: Mapping[str, Sequence[ScadEvent]]) -> Lane:
        lane = Lane(item=item.index, tag=item.tag, status=item.status, waits=list(item.backoffs))
        previous_end = 0.0
        for attempt in item.attempts:
            events = runs.get(attempt.run_id or "", ())
            first = attempt.started if attempt.started is not None else attempt.end
            floor = max(previous_end, attempt.ready or 0.0)
            prepared = self._times(events, _PREPARED, floor, first)
            start = prepared[-1] if prepared else (first if first is not None else floor)
            if attempt.ready is not None and start > attempt.ready:
                lane.waits.append(Segment(kind=attempt.waited, start=attempt.ready, end=start))
            exited = None
            if attempt.started is not None:
                over = self._times(events, _OVER, attempt.started, attempt.end)
                exited = over[0] if over else None
            lane.bars.append(
                Bar(
                    attempt=attempt.number, start=start, end=attempt.end,
                    started=attempt.started, exited=exited, status=attempt.status,
                    run_id=attempt.run_id, detail=attempt.detail,
                )
            )  # fmt: skip
            previous_end = attempt.end if attempt.end is not None else start
            lane.run_id = attempt.run_id or lane.run_id
        if item.ready is not None and not item.final:
            lane.waits.append(Segment(kind=item.waited, start=item.ready))  # waiting still
        lane.waits.sort(key=lambda segment: segment.start)
        return lane

    def _times(
        self, events: Sequence[ScadEvent], kinds: tuple[type, ...], low: float, high: float | None
    ) -> list[float]:
        """The times of the events of ``kinds`` within [low, high], in order."""
        times = (self.seconds(e.ts) for e in events if isinstance(e, kinds))
        return [t for t in times if t is not None and low <= t and (high is None or t <= high)]

    def _spend(self, measured: Mapping[str, Sequence[Exchange]]) -> tuple[list[SpendPoint], bool]:
        """What the batch had spent by each moment something cost: the gateway's
        measure for the runs it knew, what Claude reported at each attempt's end for
        the others; and whether the gateway measured every run."""
        costs: list[tuple[float, float]] = []
        every_run_measured = True
        for item in self.items.values():
            for attempt in item.attempts:
                if attempt.run_id in measured:
                    continue
                if attempt.run_id:
                    every_run_measured = False
                if attempt.end is not None and attempt.cost_usd:
                    costs.append((attempt.end, _usd(attempt.cost_usd)))
        for exchanges in measured.values():
            for exchange in exchanges:
                if (t := self.seconds(exchange.ts)) is not None and exchange.cost_usd:
                    costs.append((t, _usd(exchange.cost_usd)))
        costs.sort(key=lambda cost: cost[0])
        spend, total = [SpendPoint(t=0.0, usd=0.0)], 0.0
        for t, usd in costs:
            total += usd
            if spend[-1].t == t:
                spend[-1].usd = total
            else:
                spend.append(SpendPoint(t=t, usd=total))
        return spend, every_run_measured


def fold_timeline(
    manifest: BatchManifest,
    events: Iterable[BatchEvent],
    runs: Mapping[str, Sequence[ScadEvent]],
    measured: Mapping[str, Sequence[Exchange]],
    now: str,
) -> Timeline:
    """The batch's timeline from its log, its runs' events and the gateway's
    measures (see :class:`TimelineFold`). Pure."""
    fold = TimelineFold(manifest)
    for event in events:
        fold.feed(event)
    return fold.timeline(runs, measured, now)


def _usd(value: float) -> float:
    """A cost as spend can count it: never negative, never infinite."""
    return value if math.isfinite(value) and value > 0 else 0.0


def _step(t: float, event: LimitMoved) -> Step:
    match event.cause:
        case "ceiling":
            label = f"{event.limit} at once"
        case "rate-limited":
            label = f"API {event.status}: {event.limit}"
        case "run-succeeded":
            label = f"a run succeeded: {event.limit}"
        case _:
            label = event.detail or f"{event.limit} at once"
    return Step(t=t, limit=event.limit, cause=event.cause, status=event.status, label=label)
