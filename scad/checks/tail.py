"""The end of what a check printed, kept within bounds whatever it prints. Pure."""

from __future__ import annotations

from ..text import printable

__all__ = ["MAX_TAIL_BYTES", "MAX_TAIL_LINES", "OutputTail"]

#: What a check's event keeps of its output: its last bytes, then of those its last lines.
MAX_TAIL_BYTES = 16 * 1024
MAX_TAIL_LINES = 100


class OutputTail:
    """The last bytes of a stream of chunks: memory stays bounded by twice
    ``max_bytes`` however much arrives."""

    def __init__(self, max_bytes: int = MAX_TAIL_BYTES, max_lines: int = MAX_TAIL_LINES) -> None:
        self.max_bytes = max_bytes
        self.max_lines = max_lines
        self._kept = bytearray()
        self._cut = False

    def add(self, chunk: bytes) -> None:
        # A chunk longer than what is kept counts only by its end.
        self._kept += chunk[-2 * self.max_bytes :]
        if len(self._kept) > 2 * self.max_bytes:
            del self._kept[: -self.max_bytes]
            self._cut = True

    def text(self) -> str:
        """The last lines, each safe to show (controls escaped); a first line cut
        in the middle is dropped."""
        kept = bytes(self._kept[-self.max_bytes :])
        cut = self._cut or len(self._kept) > self.max_bytes
        lines = kept.decode("utf-8", "surrogateescape").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if cut and len(lines) > 1:
            lines = lines[1:]
        lines = lines[-self.max_lines :]
        return "\n".join(printable(line.rstrip("\r")) for line in lines)
