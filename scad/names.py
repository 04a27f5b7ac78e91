"""Naming rules: run ids, branches, container and image names. All pure."""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection
from datetime import datetime

from .errors import UsageError

__all__ = [
    "CCUSAGE_PREFIX",
    "DOCTOR_PREFIX",
    "RESERVED_CONFIG_NAMES",
    "branch_name",
    "container_name",
    "doctor_container_name",
    "home_key",
    "ids_like",
    "ids_named",
    "image_repository",
    "is_doctor_container",
    "make_run_id",
    "reserved_config_name",
    "short_run_id",
    "validate_tag",
]

#: How the throwaway containers and temporary folders of ``scad doctor`` are named.
DOCTOR_PREFIX = "scad-doctor-"
#: How the scratch folders ``project status --cost`` runs ccusage in are named.
CCUSAGE_PREFIX = "scad-ccusage-"
# Both a Docker container name and a git branch component accept this.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DOCTOR_CONTAINER_RE = re.compile(rf"^{DOCTOR_PREFIX}[a-z0-9][a-z0-9_-]{{0,62}}-[0-9a-f]{{8}}$")
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
#: What ends a run id made by :func:`make_run_id`: its time, and a count when taken.
_RUN_TIME_RE = re.compile(r"-[A-Z][a-z]{2}\d{2}-\d{4}(-\d+)?$")
#: What ends a run id shown shortened.
ELLIPSIS = "\u2026"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


#: What a config cannot be named: ``scad batch NAME`` would be one of batch's commands.
RESERVED_CONFIG_NAMES = ("run", "status", "watch", "stop", "resume", "retry", "report")


def reserved_config_name(name: str) -> str | None:
    """Why ``name`` cannot name a config, when it is reserved."""
    if name not in RESERVED_CONFIG_NAMES:
        return None
    *most, last = RESERVED_CONFIG_NAMES
    return f"a command of `scad batch` (as are {', '.join(most)} and {last}); choose another name"


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is usable in a run id, else raise :class:`UsageError`."""
    if not TAG_RE.match(tag):
        raise UsageError(
            f'invalid tag "{tag}": use 1-40 letters, digits, "-" or "_", starting with a letter or digit'
        )
    return tag


def make_run_id(config: str, tag: str, now: datetime, existing: Collection[str]) -> str:
    """``{config}-{tag}-{Mon}{DD}-{HHMM}``, with ``-2``, ``-3``... when taken."""
    base = f"{config}-{validate_tag(tag)}-{_MONTHS[now.month - 1]}{now.day:02d}-{now:%H%M}"
    if base not in existing:
        return base
    n = 2
    while f"{base}-{n}" in existing:
        n += 1
    return f"{base}-{n}"


def branch_name(run_id: str) -> str:
    """The branch a run's clones work on."""
    return f"scad-{run_id}"


def container_name(run_id: str) -> str:
    return f"scad-{run_id}"


def doctor_container_name(config: str, token: str) -> str:
    """A throwaway container of ``scad doctor``: its config and 8 random hex digits."""
    return f"{DOCTOR_PREFIX}{config}-{token}"


def is_doctor_container(name: str) -> bool:
    """Whether ``name`` is one :func:`doctor_container_name` gives (a run's container
    name ends in its time, or a count: never in 8 hex digits)."""
    return _DOCTOR_CONTAINER_RE.match(name) is not None


def image_repository(config: str, home: str) -> str:
    """The image repository of a config in the scad home whose label is ``home``
    (tags: content hash and ``latest``). Each home has its own: two homes on one
    engine never move each other's ``latest`` nor remove each other's images."""
    return f"scad-{config}-{home_key(home)}"


def home_key(home: str) -> str:
    """A short name for a scad home (from its label): 8 hex digits of its hash."""
    return hashlib.sha256(home.encode()).hexdigest()[:8]


def ids_named(text: str, known: Collection[str]) -> list[str]:
    """The ids of ``known`` that ``text`` names, sorted: itself when it is one, else
    every id it begins (as git's short ids do). Empty text names nothing; a short
    id copied with its ellipsis (see :func:`short_run_id`) names what it begins."""
    text = text.removesuffix(ELLIPSIS)
    if text in known:
        return [text]
    return sorted(k for k in known if text and k.startswith(text))


def short_run_id(run_id: str, known: Collection[str]) -> str:
    """``run_id`` as its shortest beginning that names it alone among ``known`` (see
    :func:`ids_named`), never shorter than its config and tag, then an ellipsis;
    itself when no such beginning is shorter."""
    floor = len(_RUN_TIME_RE.sub("", run_id))
    for length in range(floor, len(run_id) - 1):
        if ids_named(run_id[:length], known) == [run_id]:
            return run_id[:length] + ELLIPSIS
    return run_id


def ids_like(text: str, known: Collection[str]) -> list[str]:
    """Ids a mistyped ``text`` may have meant: those holding every dash-separated part
    of it (``calc-day1-06`` finds ``calc-day1-Dec06-1400``), else the closest spellings."""
    parts = [p for p in text.split("-") if p]
    holding = sorted(k for k in known if parts and all(p in k for p in parts))
    return holding[:5] or difflib.get_close_matches(text, sorted(known), n=3, cutoff=0.75)
