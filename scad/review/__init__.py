"""Review: a batch's results side by side, worst first, a run's full diff, and the
passed runs' branches merged into one."""

from __future__ import annotations

from .._faces import lazy_face

__all__: list[str] = []

__getattr__, __dir__ = lazy_face(__name__, {})
