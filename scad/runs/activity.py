"""Readable lines for a run's event log, as the terminal views and the web view show
them: one per thing the agent did. Pure."""

from __future__ import annotations

import functools
import time

from ..text import node_name, printable
from .envelopes import (
    STOP_SAYS,
    Cancelled,
    Checked,
    ClaudeLine,
    Envelope,
    Exited,
    Resumed,
    Started,
    Stopped,
)
from .records import parse_iso
from .streamjson import (
    ApiRetry,
    Assistant,
    Block,
    Init,
    Malformed,
    Result,
    ToolInput,
    User,
    UserBlock,
    claude_event,
)

__all__ = ["activity_lines"]

WIDTH = 160
#: The most characters of one line shown, whatever fields of the agent's it holds.
LINE_LIMIT = 3 * WIDTH


def _one_line(text: str, width: int = WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _time(ts: str) -> str:
    """The log's UTC timestamp as local wall-clock time (HH:MM:SS)."""
    return _clock(ts[:19], time.tzname)


@functools.lru_cache(maxsize=4096)
def _clock(second: str, zone: tuple[str, str]) -> str:
    """Cached per second (and time zone): a log has many lines a second, and converting
    each through datetime was most of rendering's cost."""
    try:
        return parse_iso(second + "Z").astimezone().strftime("%H:%M:%S")
    except ValueError:
        return second


def activity_lines(envelope: Envelope) -> list[str]:
    """What a person wants to see of one envelope (often nothing), safe for a terminal:
    the agent's text cannot carry escape sequences through, nor make a line longer
    than :data:`LINE_LIMIT` characters (before escaping)."""
    return [printable(_cut(line)) for line in _lines(envelope)]


def _cut(line: str) -> str:
    return line if len(line) <= LINE_LIMIT else line[: LINE_LIMIT - 1] + "…"


def _lines(envelope: Envelope) -> list[str]:
    at = _time(envelope.ts)
    if not isinstance(envelope, ClaudeLine):
        said = _said(envelope)
        detail = f" ({_one_line(said)})" if said else ""
        code = f" with code {envelope.exit_code}" if isinstance(envelope, Exited) else ""
        return [f"{at} [scad] {envelope.kind}{code}{detail}"]
    if envelope.text is not None:
        return [f"{at} {_one_line(envelope.text)}"] if envelope.text.strip() else []
    event = claude_event(envelope)
    match event:
        case Init():
            return [
                f"{at} session {_given(event.session_id)} started: model {_given(event.model)}, Claude Code {_given(event.claude_code_version)}"
            ]
        case ApiRetry():
            delay = int(event.retry_delay_ms or 0) / 1000
            return [
                f"{at} API retry {event.attempt}/{event.max_retries}: "
                f"{event.error_status} {event.error}, next in {delay:.1f} s"
            ]
        case Assistant():
            return [line for block in event.message.content for line in _assistant(at, block)]
        case User() if not isinstance(event.message.content, str):
            return [
                _tool_result(at, block)
                for block in event.message.content
                if block.type == "tool_result"
            ]
        case Result():
            return _result(at, event)
        case Malformed():
            # A kind this model knows whose fields do not fit, or not an object at all.
            kind = "/".join(filter(None, (event.type, event.subtype)))
            line = f"{kind} line" if kind else "line"
            return [f"{at} unreadable {line}: {_one_line(event.error, 100)}"]
    return []


def _said(event: Envelope) -> str | None:
    """What a scad event says beyond its kind."""
    match event:
        case Exited():
            return STOP_SAYS[event.stop] if event.stop else event.stderr
        case Checked():
            return _checked(event)
        case Started(node=str(node)):
            return f"on node {node_name(node)}"
        case ClaudeLine() | Started() | Resumed() | Cancelled() | Stopped():
            return None
    return event.detail


def _checked(event: Checked) -> str:
    seconds = event.duration_ms / 1000
    if event.stop:
        verdict = f"stopped after {seconds:.0f}s"
    elif event.exit_code is None:
        verdict = "could not run"
    else:
        verdict = "passed" if event.passed else f"failed (exit {event.exit_code})"
    return f"{event.name}: {verdict} in {seconds:.1f}s"


def _given(value: str | None) -> str:
    return "?" if value is None else value


def _assistant(at: str, block: Block) -> list[str]:
    if block.type == "text" and block.text and block.text.strip():
        return [f"{at} {_one_line(block.text)}"]
    if block.type == "tool_use":
        tool_input = block.input or ToolInput()
        argument = tool_input.command or tool_input.file_path or tool_input.pattern or ""
        return [f"{at} → {block.name}: {_one_line(str(argument))}"]
    return []


def _tool_result(at: str, block: UserBlock) -> str:
    content = block.content
    if not isinstance(content, str):
        content = " ".join(part.text or "" for part in content or [])
    text = content.strip()
    count = len(text.splitlines())
    more = f" (+{count - 1} lines)" if count > 1 else ""
    mark = "✗" if block.is_error else "←"
    return f"{at}   {mark} {_one_line(text.splitlines()[0] if text else '(no output)', 100)}{more}"


def _result(at: str, event: Result) -> list[str]:
    outcome = "error" if event.is_error else "done"
    cost = event.total_cost_usd or 0.0
    seconds = int(event.duration_ms or 0) / 1000
    lines = [
        f"{at} {outcome}: {event.num_turns} turns, ${cost:.4f}, {seconds:.1f} s ({event.subtype})"
    ]
    # A success's result repeats the last assistant text; an error's says what went wrong.
    if event.is_error and event.result and event.result.strip():
        lines.append(f"{at}   {_one_line(event.result)}")
    return lines
