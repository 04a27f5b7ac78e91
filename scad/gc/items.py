"""What a gc plan is made of: the items it removes, what it keeps, and the results."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["ORDER", "STALE_SECONDS", "GcItem", "GcKept", "GcKind", "GcPlan", "GcResult"]

#: A temporary file, or a run that is not cleaned, touched more recently than
#: this is left: it may be being written, or the run being prepared, right now.
STALE_SECONDS = 3600.0

GcKind = Literal["container", "run", "batch", "borrowed", "image", "temp"]
#: The order items are listed and removed in: a container before anything it
#: might use, a batch after its runs, a borrowed store after the runs that borrowed.
ORDER: tuple[GcKind, ...] = ("container", "run", "batch", "borrowed", "image", "temp")


class GcItem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing the plan removes."""

    kind: GcKind
    #: What it is, for people: a container's name, a run or batch id, a borrowed
    #: store's folder name, an image's tag and how many more it has (its id when it
    #: has none), a temporary file's path in the home (or its absolute path, in the
    #: system's temporary folder).
    name: str
    reason: str
    #: What removal acts on: a container or image id, or an absolute path.
    target: str
    size_bytes: int | None = None
    #: An image's tags; each is removed (the image goes with its last).
    tags: list[str] = []
    #: A container's run; a batch's runs that this plan removes too (the batch
    #: stays if one of them does not go).
    runs: list[str] = []


class GcKept(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Something gc looked at and leaves, and why."""

    kind: GcKind
    name: str
    reason: str
    #: The scad home it belongs to, when it is another home's (on the same engine):
    #: its root, or for an image its key (as the home's image repository names it).
    home: str | None = None


class GcPlan(msgspec.Struct, frozen=True, kw_only=True):
    items: list[GcItem]
    kept: list[GcKept]
    #: Files touched after this UNIX time are fresh: a temporary file written
    #: again between the plan and its removal is left.
    stale_before: float = 0.0

    @property
    def size_bytes(self) -> int:
        return sum(item.size_bytes or 0 for item in self.items)


class GcResult(msgspec.Struct, frozen=True, kw_only=True):
    kind: GcKind
    name: str
    #: removed; skipped (something changed since the plan: ``detail`` says what);
    #: or failed (``detail`` holds the error).
    outcome: Literal["removed", "skipped", "failed"]
    detail: str | None = None
