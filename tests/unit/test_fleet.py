"""The batch's pacing policy: AIMD concurrency, start pacing, backoff with jitter, the budget."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scad.batch.policy import Budget, Concurrency, LimitChange, StartPace, backoff


def test_rate_limits_halve_the_limit_once_per_cooldown() -> None:
    limit = Concurrency(10, cooldown=30)
    assert limit.rate_limited(100.0, 429) == LimitChange(10, 5, "rate-limited", 429)
    assert limit.rate_limited(110.0, 529) is None  # the same burst, reported by another run
    assert limit.rate_limited(131.0, 529) == LimitChange(5, 2, "rate-limited", 529)
    assert limit.rate_limited(200.0, 429) == LimitChange(2, 1, "rate-limited", 429)
    assert limit.rate_limited(300.0, 429) is None  # never below one
    assert limit.limit == 1
    assert LimitChange(10, 5, "rate-limited", 429).reason == "the API answered 429"


def test_successes_raise_it_one_at_a_time_up_to_the_ceiling() -> None:
    limit = Concurrency(3, cooldown=0)
    assert limit.succeeded() is None
    limit.rate_limited(0.0, 429)
    assert limit.limit == 1
    assert [limit.succeeded(), limit.succeeded(), limit.succeeded()] == [
        LimitChange(1, 2, "run-succeeded"),
        LimitChange(2, 3, "run-succeeded"),
        None,
    ]


def test_a_ceiling_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Concurrency(0)


@given(attempt=st.integers(1, 40), base=st.floats(0.01, 100), seed=st.integers(0, 2**32))
def test_backoff_doubles_within_its_jitter_and_cap(attempt: int, base: float, seed: int) -> None:
    delay = backoff(attempt, base, random.Random(seed), cap=600)
    full = min(600, base * 2 ** (attempt - 1))
    assert full / 2 <= delay <= full


def test_backoff_spreads_runs_that_failed_together() -> None:
    rng = random.Random(7)
    delays = {round(backoff(3, 10, rng), 6) for _ in range(20)}
    assert len(delays) == 20
    assert all(20 <= d <= 40 for d in delays)


def test_the_budget_counts_each_runs_latest_spend() -> None:
    budget = Budget(1.0)
    budget.spent_by("a", 0.4)
    budget.spent_by("b", 0.5)
    assert not budget.exhausted
    budget.spent_by("a", 0.5)  # a's spend went up: replaced, not added
    assert budget.spent == pytest.approx(1.0) and budget.exhausted
    assert not Budget(None).exhausted


def _starts(pace: StartPace, count: int, now: float = 0.0) -> list[float]:
    """When each of ``count`` starts asked for at ``now`` goes, one after another."""
    times = []
    for _ in range(count):
        now += pace.wait(now)
        pace.take(now)
        times.append(now)
    return times


def test_a_burst_starts_at_once_then_one_per_stagger() -> None:
    assert _starts(StartPace(0.5, 3), 6) == [0.0, 0.0, 0.0, 0.5, 1.0, 1.5]


def test_quiet_time_earns_the_burst_back_but_no_more() -> None:
    pace = StartPace(1.0, 2)
    _starts(pace, 2)
    assert pace.wait(0.5) == pytest.approx(0.5)  # half a token back
    assert _starts(pace, 4, now=100.0) == [100.0, 100.0, 101.0, 102.0]


def test_no_stagger_never_waits() -> None:
    assert _starts(StartPace(0.0, 1), 5, now=7.0) == [7.0] * 5


@given(
    stagger=st.floats(0.01, 10),
    burst=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 30), min_size=1, max_size=40),
)
def test_no_window_holds_more_starts_than_the_pace_allows(
    stagger: float, burst: int, gaps: list[float]
) -> None:
    """Whatever the asks, any window of w seconds holds at most burst + w / stagger starts."""
    pace, now, times = StartPace(stagger, burst), 0.0, []
    for gap in gaps:
        now += gap
        now += pace.wait(now)
        pace.take(now)
        times.append(now)
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + (times[j] - first) / stagger + 1e-6


def test_a_burst_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        StartPace(0.05, 0)
