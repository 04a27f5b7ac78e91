"""Numbers a request gives (an offset, a length), read strictly. Pure."""

from __future__ import annotations

import re

__all__ = ["count"]

#: A count as a request may give it: ASCII digits only (``str.isdigit`` takes ``²``,
#: which ``int`` refuses), few enough to be any file's offset.
_COUNT = re.compile(r"[0-9]{1,18}")


def count(given: str | None) -> int | None:
    """``given`` as a number of bytes (or KiB), or None when it is not plainly one."""
    if given is None or not _COUNT.fullmatch(given):
        return None
    return int(given)
