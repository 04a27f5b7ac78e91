"""How deep a JSON text nests, told without decoding it. Pure.

msgspec's decoders give up on nesting near Python's recursion limit, and that limit
counts the caller's own stack: a text one reader decodes, another reader deeper in
its stack cannot. What the event log keeps as JSON is held far below that limit.
"""

from __future__ import annotations

import re

__all__ = ["MAX_NESTING", "nests_within"]

#: The deepest nesting of Claude's objects the event log keeps as ``data`` (deeper
#: ones are kept as ``text``): Claude's own nest a dozen levels; the decoder's limit,
#: about 1000 less the reader's stack depth, must never be near.
MAX_NESTING = 128

# An escape within a string (an escaped quote ends nothing), and then a string, whose
# brackets are text, not nesting. Two linear passes: one pattern for strings with
# their escapes would scan on from every escaped quote of an unclosed one.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
# Objects and arrays alike become "[...]"; everything else goes.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nests_within(text: bytes, limit: int) -> bool:
    """Whether the arrays and objects of ``text`` (JSON) nest no deeper than ``limit``.

    Each pass removes the innermost pairs, one level, in C: a deep text costs at
    most ``limit`` passes over its brackets. The answer is exact for JSON; a text
    that is not JSON is for its decoding to refuse.
    """
    if text.count(b"[") + text.count(b"{") <= limit:
        return True  # no more openers than the limit: no deeper either (the common case)
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", text)).translate(_BRACKETS, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return True
        inner = brackets.replace(b"[]", b"")
        if len(inner) == len(brackets):
            return False
        brackets = inner
    return not brackets
