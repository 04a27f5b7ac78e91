"""Checks: what a run committed, judged by the config's commands in a fresh container
of the config's image, never in the run's own."""

from __future__ import annotations

from .._faces import lazy_face

__all__: list[str] = []

__getattr__, __dir__ = lazy_face(__name__, {})
