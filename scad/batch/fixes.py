"""What a fix attempt is told: the item's prompt, and below it what the checks that
failed printed, each fenced so that nothing it printed can pass for the prompt's
own words. Pure."""

from __future__ import annotations

import re

from ..runs.envelopes import Checked
from .events import CheckFailure

__all__ = ["OUTPUT_LIMIT", "failure_of", "fix_prompt", "named", "output_tail"]

#: How much of a failing check's output is kept: its end, where the failures are.
OUTPUT_LIMIT = 4000
#: How much of it the batch's detail shows.
DETAIL_LINES = 5
DETAIL_CHARS = 500


def failure_of(checked: Checked) -> CheckFailure:
    """A check that failed, as the batch keeps it."""
    output = checked.output
    if output is not None and len(output) > OUTPUT_LIMIT:
        output = "…" + output[-OUTPUT_LIMIT:]
    return CheckFailure(
        name=checked.name, exit_code=checked.exit_code, stop=checked.stop, output=output
    )


def named(failing: list[CheckFailure]) -> str:
    """The failing checks in a line: ``tests (exit 1), lint (timed out)``."""
    return ", ".join(f"{failure.name} ({_how(failure)})" for failure in failing)


def _how(failure: CheckFailure) -> str:
    if failure.stop == "timed-out":
        return "timed out"
    if failure.exit_code is None:
        return "could not run"
    return f"exit {failure.exit_code}"


def output_tail(failure: CheckFailure) -> str:
    """The last few lines a check printed, for a detail."""
    lines = (failure.output or "").rstrip().splitlines()[-DETAIL_LINES:]
    text = "\n".join(lines)
    return text if len(text) <= DETAIL_CHARS else "…" + text[-DETAIL_CHARS:]


def fix_prompt(prompt: str, failing: list[CheckFailure]) -> str:
    """The prompt of a fix attempt: the item's own, then what failed."""
    parts = [
        prompt.rstrip(),
        "",
        "---",
        "Your work was committed, then judged by the project's checks, and these failed: "
        f"{named(failing)}. Fix what you committed so that they pass, and commit again. "
        "What each printed (its end) follows.",
    ]
    for failure in failing:
        output = failure.output or "(it printed nothing)"
        fence = "`" * max(3, _longest_backticks(output) + 1)
        parts += ["", f"{failure.name} ({_how(failure)}):", fence, output.rstrip(), fence]
    return "\n".join(parts) + "\n"


def _longest_backticks(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)
