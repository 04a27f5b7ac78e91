"""Claude's transcripts in a run: what an interactive run did and cost, counted and followed.

Claude in a terminal prints no stream-json: what it did is only in the transcripts it
writes, ``claude/projects/<cwd with non-alphanumerics as '-'>/<session>.jsonl``, one
JSON object a line (``assistant`` lines hold the model's messages with their usage,
``user`` lines the prompts and what the tools answered).

Those are the agent's files, read as scad reads any (see :mod:`scad.agentfs`): no link
is followed, only regular files are read, opened without blocking; files and folders
looked at, bytes and lines read are all bounded, and a line too long, nested too deep
or malformed is skipped. What was left out is said (``Listing.problem``), never
silently counted as the whole. The agent can write anything there, so the figures
are its word: tokens priced by model, marked estimated, as for a conversation still
going.

They are found and opened in :mod:`._files`, cut into lines and told by their heads
in :mod:`._lines`, counted in :mod:`._count` and followed as they are written in
:mod:`._follow`.
"""

from __future__ import annotations

from ._count import BYTES_BUDGET, MAX_LINES, Counted, count_transcripts
from ._files import MAX_FILES, MAX_FOLDER_ENTRIES, Listing, find_transcripts
from ._follow import TranscriptFollower, emit_transcripts, follow_transcripts
from ._lines import MAX_LINE

__all__ = [
    "BYTES_BUDGET",
    "MAX_FILES",
    "MAX_FOLDER_ENTRIES",
    "MAX_LINE",
    "MAX_LINES",
    "Counted",
    "Listing",
    "TranscriptFollower",
    "count_transcripts",
    "emit_transcripts",
    "find_transcripts",
    "follow_transcripts",
]
