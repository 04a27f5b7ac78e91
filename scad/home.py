"""Where scad keeps its state: ``$SCAD_HOME`` (default ``~/.scad``).

configs/<name>.yml     configs; `config add` registers a symlink
runs/<run-id>/         one directory per session (mode 0700)
batches/<batch-id>/    one directory per batch
ledger/<run-id>.json   what each collected run was and spent
borrowed/<repo>.git    each host repo's objects, lent read-only to local runs
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import HomeUnwritable

__all__ = ["Home", "scad_home"]

#: The folders scad writes in a home (each made on first use).
_FOLDERS = ("configs", "runs", "batches", "ledger", "borrowed")


@dataclass(frozen=True)
class Home:
    """The layout of one scad home directory."""

    root: Path

    @property
    def configs(self) -> Path:
        return self.root / "configs"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def batches(self) -> Path:
        return self.root / "batches"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger"

    @property
    def borrowed(self) -> Path:
        """Where the host repos' objects are kept for local runs to borrow (see
        :mod:`scad.code.borrowed`)."""
        return self.root / "borrowed"

    def config_file(self, name: str) -> Path:
        return self.configs / f"{name}.yml"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def config_names(self) -> list[str]:
        """Registered config names, sorted; a cheap directory listing."""
        if not self.configs.is_dir():
            return []
        return sorted(p.stem for p in self.configs.glob("*.yml"))

    def run_ids(self) -> list[str]:
        """Run ids that have a run directory, sorted."""
        return _folders(self.runs)

    def batch_ids(self) -> list[str]:
        """Batch ids that have a batch directory, sorted."""
        return _folders(self.batches)

    def unwritable(self) -> str | None:
        """Why scad cannot write in this home (the root or a folder of it that exists
        is no folder, or cannot be written), or None. A home not made yet needs its
        nearest existing parent to be a writable folder. Blocking."""
        for folder in (self.root, *(self.root / name for name in _FOLDERS)):
            if not os.path.lexists(folder):
                if folder == self.root:
                    return _uncreatable(folder)
                continue
            if not folder.is_dir():
                return f"{folder} is not a folder"
            if not os.access(folder, os.W_OK | os.X_OK):
                return f"{folder} is not writable{_read_only(folder)}"
        return None

    def require_writable(self) -> None:
        """Raises :class:`HomeUnwritable` unless scad can write in this home. Blocking."""
        if (problem := self.unwritable()) is not None:
            raise HomeUnwritable(problem)


def _uncreatable(root: Path) -> str | None:
    parent = root.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{root} cannot be made: {parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{root} cannot be made: {parent} is not writable{_read_only(parent)}"
    return None


def _read_only(folder: Path) -> str:
    """Names a read-only file system when that is why (root ignores mode bits, not that)."""
    try:
        flags = os.statvfs(folder).f_flag
    except OSError:
        return ""
    return " (a read-only file system)" if flags & os.ST_RDONLY else ""


def _folders(parent: Path) -> list[str]:
    if not parent.is_dir():
        return []
    return sorted(p.name for p in parent.iterdir() if p.is_dir())


def scad_home() -> Home:
    """The home named by ``$SCAD_HOME``, else ``~/.scad``."""
    root = os.environ.get("SCAD_HOME") or "~/.scad"
    # Absolute: paths made from it are handed to git running elsewhere (``git -C``).
    return Home(Path(root).expanduser().absolute())
