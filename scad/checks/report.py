"""What checks are given and what they give back."""

from __future__ import annotations

import msgspec

from ..runs.envelopes import Checked

__all__ = ["CheckReport", "CheckSource"]


class CheckSource(msgspec.Struct, frozen=True, kw_only=True):
    """One repo of what is judged, read from a repository scad owns."""

    #: The config's repo key.
    repo: str
    #: A repository scad owns (a run's store, or the host repo): git runs here only.
    git_dir: str
    #: The commit judged.
    commit: str
    #: The commit pinned paths are set back to; None: nothing to pin against.
    base: str | None


class CheckReport(msgspec.Struct, frozen=True, kw_only=True):
    """Each of a config's checks, in its order, as it judged the commits."""

    checks: list[Checked]

    @property
    def passed(self) -> bool:
        """Every check passed (so does no check at all)."""
        return all(check.passed for check in self.checks)

    @property
    def failing(self) -> list[Checked]:
        return [check for check in self.checks if not check.passed]
