"""The one document a notifier receives: what happened, to which run or batch, built
by scad (never by a run's container). Pure."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["ATTENTION", "NOTICE_SCHEMA", "Notice", "NoticeKind", "encode_notice"]

#: The document's version: a field added keeps it, a field changed or removed bumps it.
NOTICE_SCHEMA = 1

#: ``run-needs-attention``: a batch's run ended for good without success;
#: ``batch-ended``: a batch's supervisor is done with it; ``session-idle``: an
#: interactive session waits for its user's input.
NoticeKind = Literal["run-needs-attention", "batch-ended", "session-idle"]

#: How a run may end that wants a person to look.
ATTENTION = frozenset(
    {"failed", "hung", "timed-out", "budget", "crashed", "oom", "unknown", "checks-failed"}
)


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    """What a notifier is told, as one JSON object."""

    schema: int = NOTICE_SCHEMA
    kind: NoticeKind
    config: str
    #: The run it is about (None for ``batch-ended``), and the batch it belongs to.
    run_id: str | None = None
    batch_id: str | None = None
    #: The batch's item (from 1) the run answers.
    item: int | None = None
    #: How the run ended (``run-needs-attention``), or the batch did (``batch-ended``:
    #: ``succeeded`` when every item did, else ``failed``); None for ``session-idle``.
    outcome: str | None = None
    #: Why, in a line (bounded): for a run, what scad saw, else what Claude or a
    #: failing check said last, every character a terminal would not show as
    #: itself escaped (:func:`~scad.text.printable`).
    detail: str | None = None
    #: ``batch-ended``: how many items ended each way (``succeeded``, ``failed``, ...).
    counts: dict[str, int] | None = None
    #: When scad built it (ISO 8601, UTC).
    time: str


def encode_notice(notice: Notice) -> bytes:
    """The document's bytes: one line of JSON, absent fields as ``null``."""
    return msgspec.json.encode(notice)
