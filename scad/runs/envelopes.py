"""The lines of a run's log, typed: Claude's lines as :class:`ClaudeLine`, scad's own
events one Struct a kind, told apart by their ``event`` tag (as Claude's objects are
by ``type``).

On disk every line is one JSON object that opens with ``seq`` and ``ts``, then
``src``: ``"claude"`` lines carry Claude's stream-json object verbatim under
``data`` (or a line that was not JSON as ``text``); ``"scad"`` lines carry the
event's tag and fields. :func:`encode_event` writes a scad event in that shape,
:func:`decode_line` reads any line back; a scad event of a kind this version does
not know reads as :class:`UnknownEvent`, a partial or damaged line as None.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

from .states import Watchdog

__all__ = [
    "STOP_SAYS",
    "Cancelled",
    "Checked",
    "ClaudeLine",
    "Cleaned",
    "Created",
    "Envelope",
    "Exited",
    "Fetched",
    "Lost",
    "Refreshed",
    "Resumed",
    "Retried",
    "ScadEvent",
    "Started",
    "Stopped",
    "UnknownEvent",
    "Warned",
    "decode_line",
    "encode_envelope",
    "encode_event",
]


class ClaudeLine(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line of a container's stdout. Unknown fields are ignored when read."""

    seq: int
    ts: str
    src: str
    #: The container that printed it (its id's first 12 characters).
    cid: str | None = None
    #: Which line of the container's stdout it is, from 0.
    n: int | None = None
    #: For lines read from the engine's log: the engine's timestamp of the line's
    #: last piece, and how many log entries carry that timestamp up to that piece.
    end: str | None = None
    k: int | None = None
    #: Claude's stream-json object: its bytes as Claude wrote them (re-encoding the
    #: line writes them back unchanged); see :meth:`payload`.
    data: msgspec.Raw = msgspec.Raw()
    #: A line Claude printed that was not JSON.
    text: str | None = None

    #: Every line has a kind: a scad event's name, None for Claude's lines.
    kind: ClassVar[None] = None

    def payload(self) -> Any:
        """Claude's object, decoded (None for lines that carry none, or whose numbers
        Python cannot hold: the writer checks a line's shape, not every value)."""
        try:
            return _decode_payload(self.data) if self.data else None
        except msgspec.DecodeError:
            return None


class _Event(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="event"):
    #: Its place in the log and when it happened: stamped as it is written.
    seq: int = 0
    ts: str = ""
    #: The container it is about (its id's first 12 characters), when it has one.
    cid: str | None = None

    src: ClassVar[str] = "scad"

    @property
    def kind(self) -> str:
        """The event's name in the log."""
        return str(self.__struct_config__.tag)


class Created(_Event, tag="created", kw_only=True):
    """The run was prepared: its image and branch."""

    detail: str | None = None


class Started(_Event, tag="started", kw_only=True):
    """A container of the run was started: its output's lines count from 0 here."""

    #: The swarm node it runs on (a run on a swarm; ``cid`` is then its task's id).
    node: str | None = None


class Resumed(_Event, tag="resumed", kw_only=True):
    """A stopped or finished session's new container was started."""


class Exited(_Event, tag="exited", kw_only=True):
    """A container's life ended (its exit is in the log once all it printed is)."""

    exit_code: int
    #: The engine reports it was OOM-killed.
    oom: bool = False
    #: When the life that ended began (the container's StartedAt), so that a
    #: restarted container's further output is still taken.
    life: str | None = None
    #: A failure's last lines of stderr.
    stderr: str | None = None
    #: The watchdog that stopped it, if one did.
    stop: Watchdog | None = None
    #: What an earlier version wrote in one field: the watchdog's sentence, or the
    #: stderr; read into ``stop`` or ``stderr`` (see :meth:`__post_init__`), never written.
    earlier_detail: str | None = msgspec.field(default=None, name="detail")

    def __post_init__(self) -> None:
        if self.earlier_detail is not None:
            earlier, self.earlier_detail = self.earlier_detail, None
            self.stop = self.stop or _SAID_BY.get(earlier)
            if self.stop is None:
                self.stderr = self.stderr or earlier


#: What a watchdog's stop says to a person. An earlier version wrote it as the
#: ``exited`` event's ``detail``: read back here (only), its logs read as they did.
STOP_SAYS: dict[Watchdog, str] = {
    "hung": "stopped: no output for longer than the idle timeout",
    "timed-out": "stopped: the run took longer than its timeout",
}
_SAID_BY: dict[str, Watchdog] = {said: stop for stop, said in STOP_SAYS.items()}


class Lost(_Event, tag="lost", kw_only=True):
    """The container went before all its output was read: nothing more can come."""

    detail: str | None = None


class Cancelled(_Event, tag="cancelled", kw_only=True):
    """scad gave the run up (its container stopped, caught up and removed)."""


class Stopped(_Event, tag="stopped", kw_only=True):
    """``session stop`` stopped the run's container."""


class Retried(_Event, tag="retry", kw_only=True):
    """A batch tries the run again."""

    detail: str | None = None


class Warned(_Event, tag="warning", kw_only=True):
    """Something scad could not use, and what it did instead."""

    detail: str | None = None


class Refreshed(_Event, tag="refreshed", kw_only=True):
    """The run was handed the host's credentials (the method and expiry, never the secret)."""

    detail: str | None = None


class Fetched(_Event, tag="fetched", kw_only=True):
    """The run's branches were brought into the host's repos."""

    detail: str | None = None


class Checked(_Event, tag="checked", kw_only=True):
    """A check of the config judged what the run committed, run by scad in a
    container of its own."""

    name: str
    #: Its exit code; None when it was stopped or could not start.
    exit_code: int | None = None
    duration_ms: int = 0
    #: The last lines it printed (bounded).
    output: str | None = None
    #: ``timed-out``: it ran past its time limit and was stopped.
    stop: Literal["timed-out"] | None = None
    #: Pinned paths the run's commits changed (set back before the check ran).
    pinned: list[str] = []
    #: The commits it judged, by repo.
    commits: dict[str, str] = {}

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


class Cleaned(_Event, tag="cleaned", kw_only=True):
    """The run's container, clones and Claude state were removed."""

    detail: str | None = None


ScadEvent = (
    Created
    | Started
    | Resumed
    | Exited
    | Lost
    | Cancelled
    | Stopped
    | Retried
    | Warned
    | Refreshed
    | Fetched
    | Checked
    | Cleaned
)


class UnknownEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A scad event of a kind this version does not know (a later one wrote it)."""

    seq: int
    ts: str
    src: str = "scad"
    event: str
    cid: str | None = None
    detail: str | None = None

    @property
    def kind(self) -> str:
        return self.event


#: One line of a run's log, as read.
Envelope = ClaudeLine | ScadEvent | UnknownEvent

_decode_claude = msgspec.json.Decoder(ClaudeLine).decode
_decode_scad = msgspec.json.Decoder(ScadEvent).decode
_decode_unknown = msgspec.json.Decoder(UnknownEvent).decode
# Numbers past a float's range read as infinite, as they do when the line is read.
_decode_payload = msgspec.json.Decoder(float_hook=float).decode
_encode = msgspec.json.Encoder().encode
#: What decoding a line can raise (a partial line, or a damaged one).
LINE_ERRORS = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)


def decode_line(line: bytes) -> Envelope | None:
    """What one line of the log holds; None for a blank, partial or damaged line
    (readers skip it). Claude's lines, the bulk of a log, are decoded once."""
    try:
        claude = _decode_claude(line)
    except LINE_ERRORS:
        return None
    if claude.src != "scad":
        return claude
    try:
        return _decode_scad(line)
    except msgspec.ValidationError:
        pass  # a kind this version does not know, or one whose fields do not fit
    try:
        return _decode_unknown(line)
    except msgspec.ValidationError:
        return None


def encode_event(event: ScadEvent, seq: int, ts: str) -> bytes:
    """A scad event as its line in the log (no newline): ``seq``, ``ts`` and ``src``
    first, as every line opens, then its tag and fields."""
    body = _encode(msgspec.structs.replace(event, seq=0, ts=""))  # the two go first
    return b'{"seq":%d,"ts":%s,"src":"scad",%s' % (seq, _encode(ts), body[1:])


def encode_envelope(envelope: Envelope) -> bytes:
    """A line as the log holds it (the JSON a reader of ``session logs --json`` gets)."""
    if isinstance(envelope, ClaudeLine | UnknownEvent):
        return _encode(envelope)
    return encode_event(envelope, envelope.seq, envelope.ts)
