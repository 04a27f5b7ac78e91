"""A device node or FIFO planted in an agent's tree, and every open scad makes of it.

Opening a device can act (rewind a tape, take a controlling terminal, block), so
scad may look at an agent's entry only through an ``O_PATH`` descriptor until it
knows the entry is a regular file. :class:`Opens` records each open that reaches a
planted node, by the inode it names, whichever call (``os.open``, ``open``) made it.
"""

from __future__ import annotations

import builtins
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: The numbers of /dev/null: a node of them opens nothing that acts.
NULL_DEVICE = os.makedev(1, 3)

needs_root = pytest.mark.skipif(os.getuid() != 0, reason="only root can make a device node")


def plant_device(path: Path) -> Path:
    os.mknod(path, stat.S_IFCHR | 0o600, NULL_DEVICE)
    return path


def plant_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


#: The kinds of node an agent can plant, for ``pytest.mark.parametrize``.
NODES = [
    pytest.param(plant_device, id="device", marks=needs_root),
    pytest.param(plant_fifo, id="fifo"),
]


class Opens:
    """The flags of every open made of the node at ``path`` (by its device and
    inode), whether it succeeded or not."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        info = path.lstat()
        # The kind too: once the node is replaced, a new file may be given its inode.
        self._node = (info.st_dev, info.st_ino, stat.S_IFMT(info.st_mode))
        self.flags: list[int] = []
        real_open, real_builtin_open = os.open, builtins.open

        def recording_open(
            file: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None
        ) -> int:
            named = self._names_node(file, dir_fd, follow=not flags & os.O_NOFOLLOW)
            if named:
                self.flags.append(flags)
            fd = real_open(file, flags, mode, dir_fd=dir_fd)
            if not named and self._is_node(os.fstat(fd)):
                self.flags.append(flags)  # reached through a link, /proc/self/fd say
            return fd

        def recording_builtin_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if not isinstance(file, int) and self._names_node(file, None, follow=True):
                self.flags.append(os.O_RDWR if "+" in mode or "w" in mode else os.O_RDONLY)
            return real_builtin_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(os, "open", recording_open)
        monkeypatch.setattr(builtins, "open", recording_builtin_open)
        monkeypatch.setattr(io, "open", recording_builtin_open)

    def _is_node(self, info: os.stat_result) -> bool:
        return (info.st_dev, info.st_ino, stat.S_IFMT(info.st_mode)) == self._node

    def _names_node(self, file: Any, dir_fd: int | None, *, follow: bool) -> bool:
        try:
            return self._is_node(os.stat(file, dir_fd=dir_fd, follow_symlinks=follow))
        except (OSError, TypeError, ValueError):
            return False

    @property
    def for_io(self) -> list[int]:
        """The opens that could reach the node's driver: any but ``O_PATH`` (which
        opens nothing) and ``O_DIRECTORY`` (which the kernel refuses for a
        non-folder before any driver is asked)."""
        return [f for f in self.flags if not f & (os.O_PATH | os.O_DIRECTORY)]


PlantNode = Callable[[Path], Path]
