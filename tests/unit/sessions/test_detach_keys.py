"""The keys that detach from a session, inside the user's own tmux or not: asked of a
real tmux server (a private one per test, as the user's)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scad.sessions import detach_keys

pytestmark = pytest.mark.anyio


class UserTmux:
    """A tmux server of the user's, and the environment of a shell inside it."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), *args], check=True, capture_output=True)

    @property
    def environ(self) -> dict[str, str]:
        return {**os.environ, "TMUX": f"{self.socket},1,0"}


@pytest.fixture
def user_tmux(tmp_path: Path) -> Iterator[UserTmux]:
    user = UserTmux(tmp_path / "tmux.sock")
    user.tmux("-f", os.devnull, "new-session", "-d", "sleep 600")
    yield user
    user.tmux("kill-server")


async def test_outside_tmux_the_sessions_own_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "TMUX"}
    assert await detach_keys(environ) == "Ctrl+b d"


async def test_inside_a_tmux_of_the_same_prefix_it_is_pressed_twice(user_tmux: UserTmux) -> None:
    assert await detach_keys(user_tmux.environ) == "Ctrl+b Ctrl+b d"


@pytest.mark.parametrize(
    ("setup", "keys"),
    [
        pytest.param(
            [["set", "-g", "prefix", "C-a"], ["unbind", "C-b"]], "Ctrl+b d", id="prefix C-a"
        ),
        pytest.param([["set", "-g", "prefix2", "C-b"], ["set", "-g", "prefix", "C-a"],
                      ["bind", "b", "send-prefix", "-2"]],
                     "Ctrl+b b d", id="C-b as its second prefix"),
        pytest.param([["set", "-g", "prefix2", "C-b"], ["set", "-g", "prefix", "C-a"]],
                     "Ctrl+b d, which your tmux takes first: bind a key to send-prefix -2 in "
                     "it to reach the session's",
                     id="C-b as its second prefix, no send-prefix -2 key"),
        pytest.param([["unbind", "C-b"], ["bind", "a", "send-prefix"]], "Ctrl+b a d",
                     id="send-prefix on another key"),
        pytest.param(
            [["unbind", "C-b"]],
            "Ctrl+b d, which your tmux takes first: bind a key to send-prefix in it to reach "
            "the session's",
            id="no send-prefix key",
        ),
    ],
)  # fmt: skip
async def test_the_keys_follow_the_users_tmux(
    user_tmux: UserTmux, setup: list[list[str]], keys: str
) -> None:
    for command in setup:
        user_tmux.tmux(*command)
    assert await detach_keys(user_tmux.environ) == keys


async def test_a_tmux_that_does_not_answer_is_taken_to_have_tmuxs_defaults(
    tmp_path: Path,
) -> None:
    environ = {**os.environ, "TMUX": f"{tmp_path}/gone.sock,1,0"}
    assert await detach_keys(environ) == "Ctrl+b Ctrl+b d"
