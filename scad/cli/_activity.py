"""Readable lines for a run's event log: one per thing the agent did. Pure."""

from __future__ import annotations

from ..agentfs import printable
from ..events import Envelope
from ._render import parse_timestamp

__all__ = ["activity_lines"]

WIDTH = 160


def _one_line(text: str, width: int = WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _time(ts: str) -> str:
    """The log's UTC timestamp as local wall-clock time."""
    try:
        return parse_timestamp(ts).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return ts


def activity_lines(envelope: Envelope) -> list[str]:
    """What a person wants to see of one envelope (often nothing), safe for a terminal:
    the agent's text cannot carry escape sequences through."""
    return [printable(line) for line in _lines(envelope)]


def _lines(envelope: Envelope) -> list[str]:
    at = _time(envelope.ts)
    if envelope.src == "scad":
        detail = f" ({_one_line(envelope.detail)})" if envelope.detail else ""
        code = f" with code {envelope.exit_code}" if envelope.exit_code is not None else ""
        return [f"{at} [scad] {envelope.event}{code}{detail}"]
    if envelope.text is not None:
        return [f"{at} {_one_line(envelope.text)}"]
    payload = envelope.payload()
    data = payload if isinstance(payload, dict) else {}
    kind, subtype = data.get("type"), data.get("subtype")
    if kind == "system" and subtype == "init":
        return [
            f"{at} session {data.get('session_id', '?')} started: model {data.get('model', '?')}, Claude Code {data.get('claude_code_version', '?')}"
        ]
    if kind == "system" and subtype == "api_retry":
        return [
            f"{at} API retry {data.get('attempt')}/{data.get('max_retries')}: "
            f"{data.get('error_status')} {data.get('error')}, next in {int(data.get('retry_delay_ms') or 0) / 1000:.1f} s"
        ]
    if kind == "assistant":
        lines = []
        for block in (data.get("message") or {}).get("content") or []:
            if block.get("type") == "text" and block.get("text", "").strip():
                lines.append(f"{at} {_one_line(block['text'])}")
            elif block.get("type") == "tool_use":
                tool_input = block.get("input") or {}
                argument = (
                    tool_input.get("command")
                    or tool_input.get("file_path")
                    or tool_input.get("pattern")
                    or ""
                )
                lines.append(f"{at} → {block.get('name')}: {_one_line(str(argument))}")
        return lines
    if kind == "user":
        lines = []
        for block in (data.get("message") or {}).get("content") or []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                content = block.get("content")
                if isinstance(content, list):
                    content = " ".join(
                        str(c.get("text", "")) for c in content if isinstance(c, dict)
                    )
                text = str(content or "").strip()
                count = len(text.splitlines())
                more = f" (+{count - 1} lines)" if count > 1 else ""
                mark = "✗" if block.get("is_error") else "←"
                lines.append(
                    f"{at}   {mark} {_one_line(text.splitlines()[0] if text else '(no output)', 100)}{more}"
                )
        return lines
    if kind == "result":
        outcome = "error" if data.get("is_error") else "done"
        cost = float(data.get("total_cost_usd") or 0.0)
        seconds = int(data.get("duration_ms") or 0) / 1000
        lines = [
            f"{at} {outcome}: {data.get('num_turns')} turns, ${cost:.4f}, {seconds:.1f} s ({data.get('subtype')})"
        ]
        # A success's result repeats the last assistant text; an error's says what went wrong.
        if data.get("is_error") and isinstance(data.get("result"), str) and data["result"].strip():
            lines.append(f"{at}   {_one_line(data['result'])}")
        return lines
    return []
