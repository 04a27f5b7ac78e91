"""The gateway's own events about a run: kept with the run's other logs
(:mod:`scad.runs.gatewaylog`), so that how a run ended can be read from them."""

from __future__ import annotations

from ..runs.gatewaylog import (
    BudgetRefused,
    Exchange,
    GatewayEvent,
    GatewayUsage,
    NotifyFailed,
    encode_event,
    fold,
    gateway_usage,
    read_gateway_events,
)

__all__ = [
    "BudgetRefused",
    "Exchange",
    "GatewayEvent",
    "GatewayUsage",
    "NotifyFailed",
    "encode_event",
    "fold",
    "gateway_usage",
    "read_gateway_events",
]
