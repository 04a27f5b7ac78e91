"""Reading a batch's prompt file: both formats, and every bad line named before anything runs."""

from __future__ import annotations

import pytest

from scad.batch.prompts import BatchPrompt, parse_prompts
from scad.errors import UsageError


def test_plain_text_prompts_split_by_separator_lines() -> None:
    text = "---\nfirst\n  line two\n---\n\n\nsecond\n --- \nthird\n---\n"
    assert parse_prompts(text, "p.txt") == [
        BatchPrompt(prompt="first\n  line two", line=2),
        BatchPrompt(prompt="second", line=7),
        BatchPrompt(prompt="third", line=9),
    ]


def test_a_separator_inside_a_line_does_not_split() -> None:
    assert [p.prompt for p in parse_prompts("a --- b\n----\nc", "p")] == ["a --- b\n----\nc"]


def test_windows_line_ends() -> None:
    assert [p.prompt for p in parse_prompts("a\r\n---\r\nb\r\n", "p")] == ["a", "b"]


def test_json_lines_with_their_own_settings() -> None:
    text = (
        '{"prompt": "fix it", "tag": "fix", "model": "claude-haiku-4-5", "max_turns": 3}\n'
        "\n"
        '{"prompt": "  test it  "}\n'
    )
    assert parse_prompts(text, "p.jsonl") == [
        BatchPrompt(prompt="fix it", tag="fix", model="claude-haiku-4-5", max_turns=3, line=1),
        BatchPrompt(prompt="test it", line=3),
    ]


def test_every_bad_line_is_named_with_its_number() -> None:
    text = "\n".join([
        '{"prompt": "good"}',
        '{"prompt": 7}',
        "not json",
        '{"prompt": "x", "tag": "has space"}',
        '{"prompt": "x", "colour": "red"}',
        '{"prompt": "   "}',
        '{"prompt": "x", "max_turns": 0}',
        '["prompt"]',
        '{"prompt": "x", "tag": "t"}',
        '{"prompt": "y", "tag": "t"}',
    ])  # fmt: skip
    with pytest.raises(UsageError) as caught:
        parse_prompts(text, "batch.jsonl")
    lines = str(caught.value).splitlines()
    assert [line.split(":")[1] for line in lines] == ["2", "3", "4", "5", "6", "7", "8", "10"]
    assert all(line.startswith("batch.jsonl:") for line in lines)
    assert "$.prompt" in lines[0] and "colour" in lines[3] and "line 9" in lines[-1]


@pytest.mark.parametrize("text", ["", "\n\n", "---\n---\n", "  \n---\n"])
def test_no_prompts_at_all(text: str) -> None:
    with pytest.raises(UsageError, match=r"no prompts|empty prompt"):
        parse_prompts(text, "p.txt")


def test_an_empty_prompt_between_separators() -> None:
    with pytest.raises(
        UsageError, match=r"^p.txt:4: empty prompt: nothing since the --- on line 2$"
    ):
        parse_prompts("a\n---\n \n---\nb", "p.txt")
