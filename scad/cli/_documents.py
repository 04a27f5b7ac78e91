"""The JSON documents commands assemble from the library's Structs: one object
each (never a bare list, so every document can carry its ``schema``).

Imported only when a document is printed or described: the Structs it names
come from modules a fast command does not load.
"""

from __future__ import annotations

import msgspec

from ..batch.view import BatchView
from ..code.fetch import RunFetch
from ..config.registry import ConfigEntry
from ..doctor import Check
from ..gc import GcItem, GcKept, GcResult
from ..sessions.control import CleanResult, StopResult
from ..sessions.status import SessionStatus

__all__ = [
    "BatchList",
    "CleanReport",
    "ConfigList",
    "DoctorReport",
    "FetchReport",
    "GcReport",
    "SessionList",
    "StopReport",
]


class DoctorReport(msgspec.Struct, kw_only=True):
    """`doctor`: whether every check passed, and each check."""

    ok: bool
    checks: list[Check]


class GcReport(msgspec.Struct, kw_only=True):
    """`gc`: what it would remove (or removed: ``results``, with --force) and what it keeps."""

    items: list[GcItem]
    kept: list[GcKept]
    size_bytes: int
    results: list[GcResult] | None


class FetchReport(msgspec.Struct, kw_only=True):
    """`code fetch`: each run's branches, and what kept a run or a clone from coming home."""

    runs: list[RunFetch]
    problems: list[str]


class CleanReport(msgspec.Struct, kw_only=True):
    """`session clean`: each run cleaned or passed over, and why others were refused."""

    results: list[CleanResult]
    refused: list[str]


class StopReport(msgspec.Struct, kw_only=True):
    """`session stop`: each run stopped or found not running."""

    results: list[StopResult]


class SessionList(msgspec.Struct, kw_only=True):
    """`session status`: the credentials' kind, and each session."""

    auth: str | None
    sessions: list[SessionStatus]


class ConfigList(msgspec.Struct, kw_only=True):
    """`config list`: each registered config."""

    configs: list[ConfigEntry]


class BatchList(msgspec.Struct, kw_only=True):
    """`batch status` without BATCH_ID: each batch."""

    batches: list[BatchView]
