"""Reading a batch's prompts: plain text split by ``---`` lines, or JSON Lines. Pure.

Every problem is found before anything starts, each with its line number, so a
batch of fifty never dies at prompt thirty-one.
"""

from __future__ import annotations

import msgspec

from ..errors import UsageError
from ..names import TAG_RE

__all__ = ["BatchPrompt", "parse_prompts"]

SEPARATOR = "---"


class BatchPrompt(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One prompt of a batch, and what it may set for its own run."""

    prompt: str
    tag: str | None = None
    model: str | None = None
    max_turns: int | None = None
    #: The line of the prompt file where it begins.
    line: int = 0


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    prompt: str
    tag: str | None = None
    model: str | None = None
    max_turns: int | None = None


_decode_line = msgspec.json.Decoder(_Line).decode


def parse_prompts(text: str, source: str) -> list[BatchPrompt]:
    """The prompts in ``text`` (read from ``source``, for messages).

    JSON Lines when the first non-blank line starts with ``{``, else plain text.
    Raises :class:`UsageError` listing every bad line.
    """
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        prompts, problems = _json_lines(text)
    else:
        prompts, problems = _plain(text)
    if not problems and not prompts:
        problems = [f"{source}: no prompts (separate plain-text prompts with lines of ---)"]
    else:
        problems = [f"{source}:{problem}" for problem in problems]
    seen: dict[str, int] = {}
    for prompt in prompts:
        if prompt.tag is None:
            continue
        if prompt.tag in seen:
            problems.append(
                f"{source}:{prompt.line}: tag {prompt.tag!r} is used on line {seen[prompt.tag]} too"
            )
        seen.setdefault(prompt.tag, prompt.line)
    if problems:
        raise UsageError("\n".join(problems))
    return prompts


def _plain(text: str) -> tuple[list[BatchPrompt], list[str]]:
    blocks: list[tuple[int, list[str]]] = [(1, [])]  # (line after the separator, lines)
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() == SEPARATOR:
            blocks.append((number + 1, []))
        else:
            blocks[-1][1].append(line)
    prompts: list[BatchPrompt] = []
    problems: list[str] = []
    for index, (start, lines) in enumerate(blocks):
        body = "\n".join(lines).strip()
        if body:
            leading = next(i for i, line in enumerate(lines) if line.strip())
            prompts.append(BatchPrompt(prompt=body, line=start + leading))
        elif 0 < index < len(blocks) - 1:  # a separator may open or close the file
            end = start + len(lines)
            problems.append(f"{end}: empty prompt: nothing since the --- on line {start - 1}")
    return prompts, problems


def _json_lines(text: str) -> tuple[list[BatchPrompt], list[str]]:
    prompts: list[BatchPrompt] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = _decode_line(line)
        except msgspec.DecodeError as exc:
            problems.append(f"{number}: {_reason(exc)}")
            continue
        problem = _check(item)
        if problem:
            problems.append(f"{number}: {problem}")
            continue
        prompts.append(
            BatchPrompt(
                prompt=item.prompt.strip(),
                tag=item.tag,
                model=item.model,
                max_turns=item.max_turns,
                line=number,
            )
        )
    return prompts, problems


def _reason(exc: msgspec.DecodeError) -> str:
    message = str(exc)
    if message.startswith(("JSON is malformed", "Input data was truncated")):
        return f"not a JSON object ({message})"
    return f"{message} (fields: prompt, and optional tag, model, max_turns)"


def _check(item: _Line) -> str | None:
    if not item.prompt.strip():
        return "the prompt is empty"
    if item.tag is not None and not TAG_RE.match(item.tag):
        return f'invalid tag "{item.tag}": use letters, digits, "-" or "_", starting with a letter or digit'
    if item.max_turns is not None and item.max_turns < 1:
        return "max_turns must be 1 or more"
    if item.model is not None and not item.model.strip():
        return "model is empty"
    return None
