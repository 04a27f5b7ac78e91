"""Whether a run may make its next request: budgets per run and per batch. Pure.

A budget is checked when a model call may start (see the ledger): an answer already
streaming runs to its end, so a run can end a little past its cap, by at most
what the requests it had in flight cost.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ._registry import Registration

__all__ = ["Overspent", "overspent"]


class Overspent(msgspec.Struct, frozen=True):
    """The budget that refuses the next request."""

    scope: Literal["run", "batch"]
    spent_usd: float
    cap_usd: float


def overspent(registration: Registration, run_spent: float, batch_spent: float) -> Overspent | None:
    """The budget spent, the run's first; None when the request may go."""
    if registration.max_usd is not None and run_spent >= registration.max_usd:
        return Overspent("run", run_spent, registration.max_usd)
    if (
        registration.batch is not None
        and registration.batch_max_usd is not None
        and batch_spent >= registration.batch_max_usd
    ):
        return Overspent("batch", batch_spent, registration.batch_max_usd)
    return None
