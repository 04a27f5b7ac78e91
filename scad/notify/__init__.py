"""Notify: telling a person when something needs them, by a command that reads one
JSON document on stdin or a URL that receives it by POST; bounded, never in a run's way."""

from __future__ import annotations

from .._faces import lazy_face

__all__: list[str] = []

__getattr__, __dir__ = lazy_face(__name__, {})
