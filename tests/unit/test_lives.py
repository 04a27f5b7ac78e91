"""The one fold of a container's life: has it ended, and how (a table)."""

from __future__ import annotations

import msgspec
import pytest

from scad.runs.envelopes import (
    Cancelled,
    Checked,
    ClaudeLine,
    Envelope,
    Exited,
    Lost,
    Resumed,
    Started,
    Stopped,
    Warned,
)
from scad.runs.lives import last_life
from scad.runs.states import Watchdog
from scad.runs.streamjson import Result

C, D = "c" * 12, "d" * 12


def line(cid: str = C) -> ClaudeLine:
    return ClaudeLine(seq=0, ts="t", src="claude", cid=cid, n=0, data=msgspec.Raw(b"{}"))


def exited(code: int = 0, *, oom: bool = False, stop: Watchdog | None = None) -> Exited:
    return Exited(cid=C, exit_code=code, oom=oom, stop=stop)


OK = Result(is_error=False)
PASSED = Checked(name="tests", exit_code=0)
FAILED = Checked(name="tests", exit_code=1)


@pytest.mark.parametrize(
    ("log", "result", "status", "output_ended", "over"),
    [
        pytest.param([], None, None, None, None, id="never-started"),
        pytest.param([Started(cid=C), line()], None, "running", False, False, id="running"),
        pytest.param([Started(cid=C), exited()], OK, "succeeded", True, True, id="succeeded"),
        pytest.param([Started(cid=C), exited(1)], OK, "failed", True, True, id="failed"),
        pytest.param([Started(cid=C), exited(1)], None, "crashed", True, True, id="no-result"),
        pytest.param([Started(cid=C), exited(0, oom=True)], OK, "oom", True, True, id="oom"),
        pytest.param([Started(cid=C), exited(143, stop="hung")], OK, "hung", True, True, id="hung"),
        pytest.param(
            [Started(cid=C), exited(143, stop="timed-out")], None, "timed-out", True, True,
            id="timed-out",
        ),
        pytest.param(
            [Started(cid=C), msgspec.json.decode(
                b'{"event":"exited","cid":"' + C.encode() + b'","exit_code":143,'
                b'"detail":"stopped: no output for longer than the idle timeout"}',
                type=Exited,
            )],
            None, "hung", True, True, id="hung-as-an-earlier-version-wrote-it",
        ),
        pytest.param([Started(cid=C), Lost(cid=C)], None, "crashed", True, True, id="lost"),
        pytest.param([Started(cid=C), Cancelled(cid=C)], None, "cancelled", False, True,
                     id="cancelled"),
        pytest.param([Cancelled()], None, "cancelled", False, True, id="cancelled-before-a-start"),
        pytest.param([Started(cid=C), Stopped(), exited(143)], None, "cancelled", True, True,
                     id="stopped-before-its-result"),
        pytest.param([Started(cid=C), Stopped(), exited(0)], OK, "succeeded", True, True,
                     id="stopped-after-its-result"),
        pytest.param([Started(cid=C), exited(143), line()], None, "running", False, False,
                     id="restarted"),
        pytest.param([Started(cid=C), exited(), Resumed(cid=D)], None, "running", False, False,
                     id="resumed-in-a-new-container"),
        pytest.param([Started(cid=C), exited(), Warned(detail="w"), Lost(cid=D)], OK, "succeeded",
                     True, True, id="others-events-count-not"),
        pytest.param([Started(cid=C), exited(), PASSED, FAILED], OK, "checks-failed", True, True,
                     id="a-check-failed"),
        pytest.param([Started(cid=C), exited(), FAILED, PASSED], OK, "succeeded", True, True,
                     id="checked-again-and-passed"),
        pytest.param([Started(cid=C), exited(), FAILED, Resumed(cid=D)], None, "running", False,
                     False, id="a-fix-attempt-goes"),
        pytest.param([Started(cid=C), exited(), FAILED, Resumed(cid=D), Exited(cid=D, exit_code=0)],
                     OK, "succeeded", True, True, id="a-fix-attempt-is-judged-anew"),
        pytest.param([Started(cid=C), exited(1), FAILED], OK, "failed", True, True,
                     id="a-failed-run-stays-failed"),
        pytest.param([Started(cid=C), FAILED, exited()], OK, "succeeded", True, True,
                     id="a-check-before-its-exit-judges-nothing"),
    ],
)  # fmt: skip
def test_a_life_ends_as_its_log_says(
    log: list[Envelope],
    result: Result | None,
    status: str | None,
    output_ended: bool | None,
    over: bool | None,
) -> None:
    life = last_life(log)
    if life is None:
        assert (status, output_ended, over) == (None, None, None)
        return
    life.saw(result)
    assert (life.status(), life.output_ended, life.over) == (status, output_ended, over)
