"""Figures as the pages show them: costs, durations, token counts. Pure."""

from __future__ import annotations

__all__ = ["cost", "duration", "node_of"]


def cost(usd: float, estimated: bool = False) -> str:
    """``$0.1234``; ``~`` before it when it counts a conversation still going."""
    return f"{'~' if estimated else ''}${usd:.4f}"


def duration(ms: int | None) -> str:
    """``42s``, ``3m05s``, ``2h03m``; ``-`` when not known."""
    if ms is None:
        return "-"
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def node_of(*holders: object) -> str | None:
    """The node a remote run is on, where the run's summary says so (a local run's
    says nothing)."""
    for holder in holders:
        if node := getattr(holder, "node", None):
            return str(node)
    return None
