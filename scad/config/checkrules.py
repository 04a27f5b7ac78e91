"""The rules a config's checks keep beyond their types: one name each, a time
limit, and pins that stay inside the workdir repo."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from .schema import Check

__all__ = ["CHECK_NAME_RE", "check_checks", "pin_problem"]

#: A check's name: shown in tables and logs, and named on the command line.
CHECK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_checks(checks: list[Check], fail: Callable[[str, str], NoReturn]) -> None:
    """Call ``fail(field, problem)`` for the first check that breaks a rule."""
    seen: set[str] = set()
    for index, check in enumerate(checks):
        field = f"checks[{index}]"
        if not CHECK_NAME_RE.match(check.name):
            fail(
                f"{field}.name",
                f'"{check.name}" is not a check name; use letters, digits, ".", "-" and "_"',
            )
        if check.name in seen:
            fail(f"{field}.name", f'"{check.name}" names two checks; give each its own')
        seen.add(check.name)
        if not check.run.strip():
            fail(f"{field}.run", "is empty; give the command that judges the run")
        # Written as "not >" so that NaN fails too.
        if not check.timeout > 0 or math.isinf(check.timeout):
            fail(f"{field}.timeout", "must be a number of seconds above 0, like 600")
        for at, pin in enumerate(check.pin):
            if problem := pin_problem(pin):
                fail(f"{field}.pin[{at}]", problem)


def pin_problem(pin: str) -> str | None:
    """Why ``pin`` is not a path inside the workdir repo; None when it is one."""
    path = PurePosixPath(pin)
    if not pin.strip() or not path.parts:
        return "is empty; name a file or folder of the workdir repo, like tests/"
    if path.is_absolute():
        return f'"{pin}" is absolute; give a path relative to the workdir repo, like tests/'
    if ".." in path.parts:
        return f'"{pin}" leaves the repo (".."); give a path inside it, like tests/'
    if path.parts[0] == ".git" or "\0" in pin or "\\" in pin:
        return f'"{pin}" is not a path of the repo\'s files'
    return None
