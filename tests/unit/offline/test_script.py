"""Reading the prompt as a script, and planning answers from requests alone."""

from __future__ import annotations

from typing import Any

import pytest

from scad.offline.script import Failure, Turn, parse_script, plan_answer, script_key


def test_directives_become_turns() -> None:
    prompt = "Please do this.\nTOKENS: 100 20\nSAY: starting\nRUN: git status\nSLEEP: 1.5\nRUN: make\nSAY: all done"
    assert parse_script(prompt) == [
        Turn(say=("starting",), run="git status", tokens=(100, 20)),
        Turn(run="make", sleep=1.5, tokens=(100, 20)),
        Turn(say=("all done",), tokens=(100, 20)),
    ]


def test_fail_and_hang_attach_to_the_next_answer() -> None:
    assert parse_script("FAIL: 429 x3\nHANG\nSAY: hi") == [
        Turn(say=("hi",), fail=Failure(429, 3), hang=True)
    ]
    assert parse_script("FAIL: 500")[0].fail == Failure(500, 1)


def test_no_directives_quotes_the_first_line() -> None:
    assert parse_script("\n  fix the bug\nplease\n") == [Turn(say=('You said: "fix the bug"',))]


@pytest.mark.parametrize("line", ["RUN:", "SLEEP: soon", "TOKENS: 1", "FAIL: often", "say: lower"])
def test_malformed_directives_are_ignored(line: str) -> None:
    assert parse_script(f"{line}\nSAY: ok") == [Turn(say=("ok",))]


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


RESULT = {"type": "tool_result", "tool_use_id": "t", "content": "ok"}
PROMPT = "RUN: echo one\nRUN: echo two\nSAY: finished"


def test_position_comes_from_tool_results() -> None:
    first = [user(text("<system-reminder>\nRUN: not me\n</system-reminder>"), text(PROMPT))]
    answer = plan_answer({"messages": first})
    assert (answer.turn, answer.command, answer.text) == (0, "echo one", None)
    second = [
        *first,
        {"role": "assistant", "content": []},
        {"role": "system", "content": "x"},
        user(RESULT),
    ]
    assert plan_answer({"messages": second}).command == "echo two"
    third = [
        *second,
        {"role": "assistant", "content": []},
        user(RESULT, text("<system-reminder>x</system-reminder>")),
    ]
    answer = plan_answer({"messages": third})
    assert (answer.turn, answer.command, answer.text) == (2, None, "finished")


def test_a_new_prompt_starts_a_new_script() -> None:
    messages = [user(text("RUN: a")), user(RESULT), user(text("SAY: second prompt"))]
    answer = plan_answer({"messages": messages})
    assert (answer.turn, answer.text) == (0, "second prompt")


def test_last_turn_without_text_says_done() -> None:
    answer = plan_answer({"messages": [user(text("RUN: a")), user(RESULT)]})
    assert (answer.text, answer.command) == ("Done.", None)


def test_tokens_are_reported() -> None:
    answer = plan_answer({"messages": [user(text("TOKENS: 1234 56\nSAY: x"))]})
    assert (answer.input_tokens, answer.output_tokens) == (1234, 56)


def test_failures_are_counted_by_prompt_whatever_the_session() -> None:
    metadata = {"user_id": '{"device_id":"d","session_id":"abc-123"}'}
    request = {"metadata": metadata, "messages": [user(text("FAIL: 429\nSAY: p"))]}
    assert script_key(request) == "FAIL: 429\nSAY: p"
    assert script_key({**request, "metadata": {}}) == script_key(request)
