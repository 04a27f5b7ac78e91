"""How a batch paces its runs. Pure policy, no clocks or engines of its own.

- :class:`Concurrency`: how many runs may go at once. Rate limits are a fleet
  problem: when the API answers runs 429 or 529 the limit is halved (at most once per
  cool-down, since one burst is reported by many runs), and each run that
  succeeds raises it by one again, up to the ceiling the user gave
  (additive increase, multiplicative decrease).
- :class:`StartPace`: when the next container may start.
- :func:`backoff`: how long a run waits before its next attempt.
- :class:`Budget`: whether the batch may still spend.
"""

from __future__ import annotations

import math
import random

import msgspec

from .events import LimitCause

__all__ = ["Budget", "Concurrency", "LimitChange", "StartPace", "backoff"]


class LimitChange(msgspec.Struct, frozen=True):
    """The concurrency limit moved: from, to, and why (with the API's answer's status
    when its rate limits cut it)."""

    old: int
    new: int
    cause: LimitCause
    status: int | None = None

    @property
    def reason(self) -> str:
        if self.cause == "rate-limited":
            return f"the API answered {self.status}"
        return "a run succeeded" if self.cause == "run-succeeded" else "the batch's ceiling"


class Concurrency:
    """Additive increase, multiplicative decrease of the number of runs at once."""

    def __init__(self, ceiling: int, *, cooldown: float = 30.0) -> None:
        if ceiling < 1:
            raise ValueError("the ceiling must be at least 1")
        self.ceiling = ceiling
        self.limit = ceiling
        self.cooldown = cooldown
        self._last_cut = -math.inf

    def rate_limited(self, now: float, status: int) -> LimitChange | None:
        """A run reported ``status`` (429 or 529) at ``now`` (seconds, any clock)."""
        if self.limit == 1 or now - self._last_cut < self.cooldown:
            return None
        old, self.limit = self.limit, max(1, self.limit // 2)
        self._last_cut = now
        return LimitChange(old, self.limit, "rate-limited", status)

    def succeeded(self) -> LimitChange | None:
        """A run succeeded: one more may go at once, up to the ceiling."""
        if self.limit >= self.ceiling:
            return None
        old, self.limit = self.limit, self.limit + 1
        return LimitChange(old, self.limit, "run-succeeded")


class StartPace:
    """Starts spaced out by a token bucket: up to ``burst`` may go at once (a batch
    starts its first slots together, as fast as the engine allows), then one per
    ``stagger`` seconds, so fifty agents do not hit the API in the same second.
    Quiet time earns the burst back."""

    def __init__(self, stagger: float, burst: int) -> None:
        if burst < 1:
            raise ValueError("the burst must be at least 1")
        self.stagger = stagger
        self.burst = burst
        self._tokens = float(burst)
        self._at = -math.inf

    def wait(self, now: float) -> float:
        """Seconds from ``now`` until a start may go (0: at once)."""
        tokens = self._refilled(now)
        return 0.0 if tokens >= 1 else (1 - tokens) * self.stagger

    def take(self, now: float) -> None:
        """A start went at ``now``."""
        self._tokens = max(0.0, self._refilled(now) - 1)
        self._at = now

    def _refilled(self, now: float) -> float:
        if self.stagger <= 0 or self._at == -math.inf:
            return float(self.burst)
        return min(self.burst, self._tokens + (now - self._at) / self.stagger)


def backoff(attempt: int, base: float, rng: random.Random, *, cap: float = 600.0) -> float:
    """Seconds to wait after failed attempt ``attempt`` (from 1): ``base`` doubled per
    attempt up to ``cap``, half of it fixed and half random, so runs that failed
    together do not come back together."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


class Budget:
    """What the batch has spent, against what it may spend (None: no limit).

    Each run reports everything it has cost so far, over all its attempts: as the
    gateway measured its answers (a run made before the gateway: finished
    conversations at the cost Claude Code reported, one still going at its usage
    priced by model), and as the gateway counted the batch when it refused a run
    for the batch's budget.
    """

    def __init__(self, limit_usd: float | None) -> None:
        self.limit_usd = limit_usd
        self._runs: dict[str, float] = {}
        #: What the gateway counted when it refused a run for the batch's budget.
        self._refused_at: float | None = None

    def spent_by(self, run_id: str, usd: float) -> None:
        """What ``run_id`` has spent so far: it never goes down (a run's own output
        could claim less than it did before)."""
        self._runs[run_id] = max(usd, self._runs.get(run_id, 0.0))

    def gateway_refused(self, batch_spent_usd: float) -> None:
        """The gateway refused a run a request for the batch's budget, having counted
        ``batch_spent_usd``: the batch spent that much, whatever the runs read so far
        add up to."""
        self._refused_at = max(batch_spent_usd, self._refused_at or 0.0)

    @property
    def spent(self) -> float:
        return max(sum(self._runs.values()), self._refused_at or 0.0)

    @property
    def exhausted(self) -> bool:
        return self.limit_usd is not None and self.spent >= self.limit_usd
