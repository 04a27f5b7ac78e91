"""A config's checks: each rule broken gives one line naming its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.config.loading import parse_config
from scad.errors import ConfigError

HEAD = "name: proj\nrepos: {code: {path: /tmp, workdir: true}}\n"


def parse(checks: str) -> None:
    parse_config(HEAD + f"checks: {checks}\n", label="proj.yml", base_dir=Path("/tmp"))


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        pytest.param(
            "[{name: t, run: x, pin: [../etc]}]",
            'proj.yml: checks[0].pin[0]: "../etc" leaves the repo (".."); give a path inside it, like tests/',
            id="dotdot",
        ),
        pytest.param(
            "[{name: t, run: x, pin: [tests/, /etc/passwd]}]",
            'proj.yml: checks[0].pin[1]: "/etc/passwd" is absolute; give a path relative to the workdir repo, like tests/',
            id="absolute",
        ),
        pytest.param(
            "[{name: t, run: x, pin: ['']}]",
            "proj.yml: checks[0].pin[0]: is empty; name a file or folder of the workdir repo, like tests/",
            id="empty",
        ),
        pytest.param(
            "[{name: t, run: x, pin: [.]}]",
            "proj.yml: checks[0].pin[0]: is empty; name a file or folder of the workdir repo, like tests/",
            id="the-whole-repo",
        ),
        pytest.param(
            "[{name: t, run: x, pin: [.git/hooks]}]",
            'proj.yml: checks[0].pin[0]: ".git/hooks" is not a path of the repo\'s files',
            id="git",
        ),
        pytest.param(
            "[{name: t, run: x}, {name: t, run: y}]",
            'proj.yml: checks[1].name: "t" names two checks; give each its own',
            id="duplicate",
        ),
        pytest.param(
            "[{name: 'my tests', run: x}]",
            'proj.yml: checks[0].name: "my tests" is not a check name; use letters, digits, ".", "-" and "_"',
            id="name",
        ),
        pytest.param(
            "[{name: t, run: x, timeout: 0}]",
            "proj.yml: checks[0].timeout: must be a number of seconds above 0, like 600",
            id="zero",
        ),
        pytest.param(
            "[{name: t, run: x, timeout: .nan}]",
            "proj.yml: checks[0].timeout: must be a number of seconds above 0, like 600",
            id="nan",
        ),
        pytest.param(
            "[{name: t, run: '  '}]",
            "proj.yml: checks[0].run: is empty; give the command that judges the run",
            id="no-command",
        ),
    ],
)
def test_a_broken_rule_is_one_line_naming_its_field(checks: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(checks)
    assert str(caught.value) == message


def test_good_checks_pass() -> None:
    parse(
        "[{name: tests, run: pytest -q, pin: [tests/, ./conftest.py], timeout: 30}, {name: lint, run: ruff check .}]"
    )
