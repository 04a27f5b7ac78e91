"""Figures as the pages show them: costs, durations, checks. Pure."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["checks", "cost", "duration"]


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


def checks(verdicts: Mapping[str, str]) -> str:
    """``2 passed``, or the checks that did not pass with their verdicts; ``-`` when
    none ran."""
    if not verdicts:
        return "-"
    wrong = [
        f"{name} {verdict}" for name, verdict in sorted(verdicts.items()) if verdict != "passed"
    ]
    return ", ".join(wrong) if wrong else f"{len(verdicts)} passed"
