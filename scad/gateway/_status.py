"""What the gateway and its runs look like from the files: for `scad gateway status`."""

from __future__ import annotations

import msgspec

from ..home import Home
from ._events import GatewayUsage, gateway_usage
from ._lifecycle import GatewayInfo, gateway_info
from ._registry import events_path, registered_runs

__all__ = ["GatewayStatus", "RunSpend", "gateway_status"]


class RunSpend(msgspec.Struct, kw_only=True):
    run_id: str
    live: bool
    """Its token still works."""
    batch_id: str | None
    budget_usd: float | None
    batch_budget_usd: float | None
    usage: GatewayUsage


class GatewayStatus(msgspec.Struct, kw_only=True):
    gateway: GatewayInfo | None
    runs: list[RunSpend]


def gateway_status(home: Home) -> GatewayStatus:
    """The running gateway (None when none runs) and every run registered with it."""
    runs = [
        RunSpend(
            run_id=registration.run_id,
            live=registration.secret is not None,
            batch_id=registration.batch,
            budget_usd=registration.max_usd,
            batch_budget_usd=registration.batch_max_usd,
            usage=gateway_usage([events_path(home, registration.run_id)]),
        )
        for registration in registered_runs(home)
    ]
    return GatewayStatus(gateway=gateway_info(home), runs=runs)
