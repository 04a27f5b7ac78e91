"""A check's folder: where its checkouts are written, held by the scad process that
runs the check for as long as it does.

The hold is an ``flock`` on a file in the folder, taken before the check's container
is made (the container names the folder in a label); the kernel drops it when the
process ends, however it ends. So a folder, or a container, whose lock nobody holds
was left by a scad that was killed mid-check, and one whose lock is held belongs to a
check still going. Blocking file work, to be run in a thread.
"""

from __future__ import annotations

import fcntl
import fnmatch
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Literal

__all__ = [
    "CHECK_PREFIX",
    "CheckFolder",
    "Holder",
    "check_folder_place",
    "holder",
    "remove_check_folder",
]

CHECK_PREFIX = "scad-check-"
#: The file in a check's folder that its scad process holds locked. Repo keys begin
#: with a letter or digit: no checkout is named so.
_LOCK = ".held"

#: Who holds a check's folder: a live scad process (``held``); nobody, its process
#: gone (``left``); there is no such folder (``gone``); or it cannot be told
#: (``unknown``: no lock yet, the folder being made, or not a check's folder).
Holder = Literal["held", "left", "gone", "unknown"]


class CheckFolder:
    """A new check folder in the system's temporary folder, held by this process
    until it is closed, then removed."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=CHECK_PREFIX))
        making = self.path / ".making"
        self._fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        # Named for others only once held: a lock they find is never one not yet taken.
        os.rename(making, self.path / _LOCK)

    def close(self) -> None:
        try:
            remove_check_folder(self.path)
        finally:
            os.close(self._fd)


def check_folder_place(path: Path) -> bool:
    """Whether ``path`` is where a check's folder can be: a label or a plan cannot
    name anything else."""
    return (
        path.is_absolute()
        and ".." not in path.parts
        and path.parent == Path(tempfile.gettempdir())
        and fnmatch.fnmatchcase(path.name, f"{CHECK_PREFIX}*")
    )


def holder(path: Path) -> Holder:
    """Who holds the check folder ``path`` (the lock is tried for an instant, never
    waited on)."""
    if not check_folder_place(path):
        return "unknown"
    if not os.path.lexists(path):
        return "gone"
    try:
        fd = os.open(path / _LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return "unknown"
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return "held"
    finally:
        os.close(fd)  # drops the lock, if it was taken
    return "left"


def remove_check_folder(folder: Path) -> None:
    """Remove a check's folder, also one whose check took its own folders' write bits
    away (links in it are removed, never followed)."""
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        pass
    except OSError:
        for parent, dirs, _ in os.walk(folder):
            for name in dirs:
                path = os.path.join(parent, name)
                if stat.S_ISDIR(os.lstat(path).st_mode):
                    os.chmod(path, stat.S_IRWXU)
        shutil.rmtree(folder, ignore_errors=True)
