"""The prompt is the script: reading directives and planning the next answer. Pure.

Where a conversation stands is derived from the request alone: the latest user
prompt holds the script, and the tool results that follow it say how many
``RUN:`` turns are done. Any number of Claude processes can share one server.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

__all__ = ["Answer", "Failure", "Turn", "parse_script", "plan_answer", "script_key"]

_DIRECTIVE_RE = re.compile(r"^\s*(RUN|SAY|SLEEP|TOKENS|FAIL|HANG)\s*(?::\s?(.*))?$")
_FAIL_RE = re.compile(r"^(\d{3})(?:\s+x(\d+))?$")
FINAL_TEXT = "Done."


class Failure(msgspec.Struct, frozen=True):
    status: int
    times: int = 1


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One answer of the model: text, then at most one Bash call."""

    say: tuple[str, ...] = ()
    run: str | None = None
    sleep: float = 0.0
    tokens: tuple[int, int] | None = None
    fail: Failure | None = None
    hang: bool = False


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """What to send for one request."""

    turn: int
    text: str | None
    command: str | None
    sleep: float
    input_tokens: int
    output_tokens: int
    fail: Failure | None
    hang: bool


def parse_script(prompt: str) -> list[Turn]:
    """The turns a prompt asks for; the last turn ends the conversation.

    A prompt with no directives gets one text answer quoting its first line.
    """
    turns: list[Turn] = []
    draft = _Draft()
    found = False
    for line in prompt.splitlines():
        match = _DIRECTIVE_RE.match(line)
        if not match:
            continue
        found = True
        keyword, argument = match[1], (match[2] or "").strip()
        if keyword == "SAY":
            draft.say.append(argument)
        elif keyword == "SLEEP":
            draft.sleep += _number(argument)
        elif keyword == "TOKENS":
            parts = argument.split()
            if len(parts) == 2 and all(p.isdigit() for p in parts):
                draft.tokens = (int(parts[0]), int(parts[1]))
        elif keyword == "FAIL":
            if failure := _FAIL_RE.match(argument):
                draft.fail = Failure(int(failure[1]), int(failure[2] or 1))
        elif keyword == "HANG":
            draft.hang = True
        elif keyword == "RUN" and argument:
            turns.append(draft.finish(run=argument))
            draft = _Draft(tokens=draft.tokens)  # usage carries over to later answers
    if not found:
        first = next((line.strip() for line in prompt.splitlines() if line.strip()), "")
        return [Turn(say=(f'You said: "{first}"',))]
    turns.append(draft.finish(run=None))
    return turns


class _Draft(msgspec.Struct):
    """A turn being read from the prompt."""

    say: list[str] = []
    sleep: float = 0.0
    tokens: tuple[int, int] | None = None
    fail: Failure | None = None
    hang: bool = False

    def finish(self, run: str | None) -> Turn:
        return Turn(
            say=tuple(self.say),
            run=run,
            sleep=self.sleep,
            tokens=self.tokens,
            fail=self.fail,
            hang=self.hang,
        )


def _number(text: str) -> float:
    """A duration in seconds; anything else counts as none."""
    try:
        return max(0.0, float(text))
    except ValueError:
        return 0.0


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _prompt_text(message: dict[str, Any]) -> str:
    """The user's own words in a message: text blocks that are not system reminders."""
    texts = [
        b.get("text", "")
        for b in _blocks(message)
        if b.get("type") == "text"
        and not b.get("text", "").lstrip().startswith("<system-reminder>")
    ]
    return "\n".join(t for t in texts if t.strip())


def latest_prompt(messages: list[dict[str, Any]]) -> tuple[str, int]:
    """The latest user prompt and how many tool results came after it."""
    prompt, results = "", 0
    for message in messages:
        if message.get("role") != "user":
            continue
        text = _prompt_text(message)
        tool_results = sum(1 for b in _blocks(message) if b.get("type") == "tool_result")
        if text and not tool_results:
            prompt, results = text, 0
        else:
            results += tool_results
    return prompt, results


def plan_answer(request: dict[str, Any]) -> Answer:
    """The answer to a Messages API request body."""
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    prompt, done = latest_prompt(messages)
    turns = parse_script(prompt)
    index = min(done, len(turns) - 1)
    turn = turns[index]
    tokens = turn.tokens
    text = "\n".join(turn.say) or (None if turn.run else FINAL_TEXT)
    if tokens is None:
        size = len(json.dumps(messages))
        tokens = (max(1, size // 4), max(1, (len(text or "") + len(turn.run or "")) // 4))
    return Answer(
        turn=index,
        text=text,
        command=turn.run,
        sleep=turn.sleep,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        fail=turn.fail,
        hang=turn.hang,
    )


def script_key(request: dict[str, Any]) -> str:
    """What the ``FAIL:`` counters count by: the prompt itself, so a rate limit lasts
    N requests of that prompt whoever sends them (Claude retrying by itself, or a
    new attempt of the run in a new Claude session)."""
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    return latest_prompt(messages)[0]
