"""A run ends ``budget`` when its result says the API refused it with 402 and the
gateway's own events hold the budget refusal: never on the run's word alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.home import Home
from scad.runs.gatewaylog import BudgetRefused, encode_event
from scad.runs.outcomes import Outcome
from scad.runs.records import RunPaths
from scad.runs.summaries import summarise_log
from tests.fakes import FakeEngine, Script
from tests.unit.test_summaries import Log
from tests.unit.test_supervisor import INIT, make_run, out, result

pytestmark = pytest.mark.anyio

REFUSED = {**result(is_error=True, text="API Error: 402 the run's budget is spent"),
           "api_error_status": 402}  # fmt: skip
#: Refused while Claude compacted its conversation: the 402 is in its text alone.
REFUSED_COMPACTING = {
    **result(is_error=True, text="Prompt is too long · automatic compaction failed: "
             "API Error: 402 scad: the run spent $90.0000 of its $0.0100 budget"),
    "api_error_status": None,
}  # fmt: skip
REFUSALS = pytest.mark.parametrize(
    "refused",
    [pytest.param(REFUSED, id="asking"), pytest.param(REFUSED_COMPACTING, id="compacting")],
)


def refused_by_gateway(paths: RunPaths) -> None:
    paths.gateway_events.parent.mkdir(exist_ok=True)
    refusal = BudgetRefused(ts="t", scope="run", spent_usd=0.52, cap_usd=0.5)
    paths.gateway_events.write_bytes(encode_event(refusal))


@pytest.mark.parametrize(
    ("gateway_refused", "status"),
    [
        pytest.param(True, "budget", id="gateway-refused"),
        pytest.param(False, "failed", id="the-runs-word-alone"),
    ],
)
@REFUSALS
async def test_a_supervised_run_the_gateway_refused_ends_budget(
    tmp_path: Path, gateway_refused: bool, status: str, refused: dict[str, object]
) -> None:
    home = Home(tmp_path)
    record, spec = make_run(home)
    if gateway_refused:
        refused_by_gateway(RunPaths(home, record.run_id))
    engine = FakeEngine(script=lambda spec: Script(out(INIT, refused), exit_code=1))
    outcome = await _supervise(engine, home, record, spec)
    assert outcome.outcome == status
    if gateway_refused:
        assert (
            outcome.detail
            == "the gateway refused its next request: the run's budget is spent ($0.5200 of $0.50)"
        )


@pytest.mark.parametrize(
    ("gateway_refused", "status"),
    [
        pytest.param(True, "budget", id="gateway-refused"),
        pytest.param(False, "failed", id="the-runs-word-alone"),
    ],
)
@REFUSALS
def test_the_log_of_a_run_the_gateway_refused_says_budget(
    tmp_path: Path, gateway_refused: bool, status: str, refused: dict[str, object]
) -> None:
    paths = RunPaths(Home(tmp_path), "r")
    paths.root.mkdir(parents=True)
    Log(paths).scad("started").claude(refused).scad("exited", exit_code=1, oom=False)
    assert summarise_log(paths).outcome == "failed"  # cached so
    if gateway_refused:
        refused_by_gateway(paths)
    assert summarise_log(paths).outcome == status


async def _supervise(engine, home, record, spec) -> Outcome:  # type: ignore[no-untyped-def]
    from scad.runs.supervisor import supervise

    return await supervise(engine, home, record, spec)
