"""Garbage collection: what scad left behind that nothing needs any more.

:func:`plan_gc` only looks, and returns a :class:`GcPlan`: the items to remove,
each with why, and what it considered and keeps, each with why. :func:`apply_gc`
removes exactly the plan's items, re-checking first what could have changed
since, and reports on each. The decisions are pure functions of what was seen
(:mod:`.rules`); the looking (:mod:`.scan`, :mod:`.temps`) and the removing
(:mod:`.apply`) sit around them.

container  a container of this scad home whose run directory is gone, one a
           killed ``scad doctor`` left over an hour ago, or a check's whose scad
           process is gone (killed mid-check)
run        a run directory whose container and clones are gone
batch      a batch directory whose runs are all cleaned or gone
borrowed   a borrowed store (a copy of a host repo's objects, lent to runs' clones)
           that no run's clones borrow from, as their records say: the next run
           copies the host repo again, without what was rewritten out of it
image      a scad image that no container uses and is not its config's newest, or
           any such image of a config the home no longer has
temp       a temporary file scad left (a process killed mid-write), over an hour old,
           or a check's folder of checkouts whose scad process is gone

Nothing that may hold work is collected: a run with clones never is (its
commits may be the only copy), nor the borrowed store its clones' history is in,
and neither is anything a live process is using,
nor a run's container whose label does not name this home (another home's, or
one an older scad made). A doctor's throwaway containers hold nothing: any
home's gc takes them once they are old.
"""

from .apply import apply_gc
from .items import STALE_SECONDS, GcItem, GcKept, GcKind, GcPlan, GcResult
from .plan import plan_gc
from .rules import (
    check_leftovers,
    doctor_leftovers,
    orphan_containers,
    stale_images,
    unused_borrowed,
)

__all__ = [
    "STALE_SECONDS",
    "GcItem",
    "GcKept",
    "GcKind",
    "GcPlan",
    "GcResult",
    "apply_gc",
    "check_leftovers",
    "doctor_leftovers",
    "orphan_containers",
    "plan_gc",
    "stale_images",
    "unused_borrowed",
]
