"""What one check found: a Struct, and the constants the checks share."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["Check", "Status", "failed", "skipped"]

Status = Literal["pass", "warn", "fail", "skip"]


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One line of ``scad doctor``: what was checked, how it went, how to fix it."""

    name: str
    status: Status
    detail: str
    #: What to do about a failure or a warning.
    fix: str | None = None
    #: The config the check is about, for checks made per config.
    config: str | None = None


def skipped(name: str, why: str) -> Check:
    return Check(name=name, status="skip", detail=why)


def failed(name: str, detail: str, fix: str | None = None, config: str | None = None) -> Check:
    return Check(name=name, status="fail", detail=detail, fix=fix, config=config)
