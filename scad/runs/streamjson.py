"""Claude Code's stream-json output as typed events, decoded once.

``claude -p --output-format stream-json --verbose`` prints one JSON object a line:
``system``/``init``, ``system``/``api_retry``, ``assistant``, ``user`` and a final
``result``. Those lines are the container's stdout, so the agent controls them:
:func:`decode_event` turns any bytes into one event and never raises. Kinds not
modelled here become :class:`Unknown`, lines that do not fit :class:`Malformed`;
fields Claude adds are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import msgspec

if TYPE_CHECKING:
    from .envelopes import ClaudeLine

__all__ = [
    "ApiRetry",
    "Assistant",
    "AssistantMessage",
    "Block",
    "Count",
    "Init",
    "Malformed",
    "Result",
    "StreamEvent",
    "TextPart",
    "ToolInput",
    "Unknown",
    "Usage",
    "User",
    "UserBlock",
    "UserMessage",
    "claude_event",
    "decode_event",
]

#: A count Claude reports (tokens, turns, attempts). Bounded, so that sums of many
#: stay printable (Python refuses to print ints of more than 4300 digits).
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
#: Dollars and milliseconds: an agent's forged negative amount must not offset others'.
Amount = Annotated[float, msgspec.Meta(ge=0, le=1e12)]


class _Struct(msgspec.Struct, kw_only=True, gc=False):
    """Base of the model: fields by name, unknown ones ignored. Decoded JSON holds no
    reference cycles, so the garbage collector need not track these."""


class Usage(_Struct):
    """Tokens of a message or a whole conversation (cache counts may be null)."""

    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cache_read_input_tokens: Count | None = None
    cache_creation_input_tokens: Count | None = None


class ToolInput(_Struct):
    """The arguments of a tool call that say what it works on. Any JSON: MCP tools
    name their arguments freely."""

    command: Any = None
    file_path: Any = None
    pattern: Any = None


class Block(_Struct):
    """One content block of an assistant message: ``text``, ``tool_use``, or a kind
    not modelled here (``thinking``, ``server_tool_use``, ...), kept with its type."""

    type: str | None = None
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: ToolInput | None = None


class AssistantMessage(_Struct):
    id: str | None = None
    content: list[Block] = []
    usage: Usage | None = None


class Init(_Struct):
    """``system``/``init``: a start of Claude, the first line of each conversation."""

    session_id: str | None = None
    model: str | None = None
    claude_code_version: str | None = None
    cwd: str | None = None
    tools: list[str] = []


class ApiRetry(_Struct):
    """``system``/``api_retry``: Claude retries a failed API call by itself."""

    attempt: Count | None = None
    max_retries: Count | None = None
    #: Fractional: the backoff has jitter.
    retry_delay_ms: float | None = None
    error_status: int | None = None
    error: str | None = None


class Assistant(_Struct, tag="assistant", tag_field="type"):
    """A message of the model's: text and tool calls, with its usage."""

    message: AssistantMessage = msgspec.field(default_factory=AssistantMessage)
    session_id: str | None = None


class TextPart(_Struct):
    """One part of a tool result's content; parts that are not text have no text."""

    type: str | None = None
    text: str | None = None


class UserBlock(_Struct):
    """One content block of a user message: a ``tool_result``, or another kind."""

    type: str | None = None
    text: str | None = None
    tool_use_id: str | None = None
    content: str | list[TextPart] | None = None
    is_error: bool | None = None


class UserMessage(_Struct):
    #: A plain prompt is a string; tool results come as blocks.
    content: str | list[UserBlock] = []


class User(_Struct, tag="user", tag_field="type"):
    """A message to the model: the prompt, or what the tools answered."""

    message: UserMessage = msgspec.field(default_factory=UserMessage)
    session_id: str | None = None


class Result(_Struct, tag="result", tag_field="type"):
    """The last line of a conversation. ``subtype`` can say success while
    ``is_error`` is true (a run that was not logged in): check ``is_error``."""

    subtype: str | None = None
    is_error: bool | None = None
    num_turns: Count | None = None
    duration_ms: Amount | None = None
    total_cost_usd: Amount | None = None
    usage: Usage | None = None
    session_id: str | None = None
    result: str | None = None
    api_error_status: int | None = None


class Unknown(_Struct):
    """A line of a kind not modelled here (``stream_event``, ``rate_limit_event``, a
    new system subtype, ...), with the type and subtype it named."""

    type: str | None = None
    subtype: str | None = None


class Malformed(_Struct):
    """A line that does not fit: not a JSON object, or a modelled kind whose fields
    have the wrong shape. ``error`` says where (msgspec's message)."""

    error: str
    type: str | None = None
    subtype: str | None = None


StreamEvent: TypeAlias = Init | ApiRetry | Assistant | User | Result | Unknown | Malformed


class _System(_Struct, tag="system", tag_field="type"):
    subtype: str | None = None


class _Head(_Struct):
    type: str | None = None
    subtype: str | None = None


_decode_tagged = msgspec.json.Decoder(Assistant | User | Result | _System).decode
_decode_head = msgspec.json.Decoder(_Head).decode
_SYSTEM: dict[str, Callable[[bytes], Init | ApiRetry]] = {
    "init": msgspec.json.Decoder(Init).decode,
    "api_retry": msgspec.json.Decoder(ApiRetry).decode,
}
_MODELLED = frozenset({"assistant", "user", "result", "system"})
# Besides DecodeError: a string of invalid UTF-8 raises UnicodeDecodeError, and
# nesting about 1000 deep exhausts msgspec's recursion guard (RecursionError).
_FAILURES = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def decode_event(data: bytes) -> StreamEvent:
    """The event one line of stream-json holds. Never raises."""
    try:
        event = _decode_tagged(data)
    except _FAILURES as exc:
        return _untagged(data, exc)
    if not isinstance(event, _System):
        return event
    decode = _SYSTEM.get(event.subtype or "")
    if decode is None:
        return Unknown(type="system", subtype=event.subtype)
    try:
        return decode(data)
    except _FAILURES as exc:
        return Malformed(type="system", subtype=event.subtype, error=str(exc))


def _untagged(data: bytes, exc: Exception) -> Unknown | Malformed:
    """A line the tagged decoding refused: an unknown kind, or a known one broken."""
    try:
        head = _decode_head(data)
    except _FAILURES as not_an_event:
        return Malformed(error=str(not_an_event))
    if head.type in _MODELLED:
        return Malformed(type=head.type, subtype=head.subtype, error=str(exc))
    return Unknown(type=head.type, subtype=head.subtype)


def claude_event(envelope: ClaudeLine) -> StreamEvent | None:
    """The event a line of Claude's carries (None for one that carries no object)."""
    return decode_event(envelope.data) if envelope.data else None
