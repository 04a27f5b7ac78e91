"""Where scad keeps its state: ``$SCAD_HOME`` (default ``~/.scad``).

configs/<name>.yml     configs; `config add` registers a symlink
runs/<run-id>/         one directory per session (mode 0700)
batches/<batch-id>/    one directory per batch
ledger/<run-id>.json   what each collected run was and spent
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Home", "scad_home"]


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


def _folders(parent: Path) -> list[str]:
    if not parent.is_dir():
        return []
    return sorted(p.name for p in parent.iterdir() if p.is_dir())


def scad_home() -> Home:
    """The home named by ``$SCAD_HOME``, else ``~/.scad``."""
    root = os.environ.get("SCAD_HOME") or "~/.scad"
    # Absolute: paths made from it are handed to git running elsewhere (``git -C``).
    return Home(Path(root).expanduser().absolute())
