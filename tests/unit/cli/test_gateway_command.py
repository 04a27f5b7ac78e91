"""`scad gateway status`: the gateway, its runs and what each spent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scad.gateway._events import BudgetRefused, Exchange, encode_event
from scad.gateway._registry import events_path, register_run, revoke_run
from scad.home import Home
from tests.conftest import Cli

pytestmark = pytest.mark.anyio


@pytest.fixture
def home(scad_home: Path) -> Home:
    home = Home(scad_home)
    for run_id in ("run-a", "run-b"):
        home.run_dir(run_id).mkdir(parents=True)
    register_run(home, "run-a", upstream="http://127.0.0.1:1", max_usd=2.0, batch="b1")
    register_run(home, "run-b", upstream="http://127.0.0.1:1")
    revoke_run(home, "run-b")
    exchange = Exchange(
        ts="t", method="POST", path="/v1/messages", status=200, input_tokens=10,
        output_tokens=5, cost_usd=1.25,
    )  # fmt: skip
    refused = BudgetRefused(ts="t", scope="run", spent_usd=2.5, cap_usd=2.0)
    events_path(home, "run-a").write_bytes(encode_event(exchange) * 2 + encode_event(refused))
    return home


async def test_status_lists_runs_and_their_spend(home: Home, run_cli: Cli) -> None:
    result = await run_cli("gateway", "status", "-o", "wide")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "gateway: not running (it starts when a run needs it)"
    # Dollars as every other table shows them.
    assert lines[1].split() == [
        "RUN", "TOKEN", "BATCH", "REQUESTS", "IN", "OUT", "COST", "CAP", "429/529", "402",
    ]  # fmt: skip
    assert lines[2].split() == [
        "run-a",
        "live",
        "b1",
        "2",
        "20",
        "10",
        "$2.5000",
        "$2.00",
        "0",
        "1",
    ]
    assert lines[3].split() == ["run-b", "revoked", "0", "0", "0", "$0.0000", "0", "0"]


async def test_status_as_json_shows_no_secret(home: Home, run_cli: Cli) -> None:
    result = await run_cli("gateway", "status", "--json")
    assert result.exit_code == 0
    shown = json.loads(result.output)
    assert shown["gateway"] is None
    assert [(r["run_id"], r["live"], r["usage"]["cost_usd"]) for r in shown["runs"]] == [
        ("run-a", True, 2.5),
        ("run-b", False, 0.0),
    ]
    secret = json.loads((home.run_dir("run-a") / "gateway" / "registration.json").read_bytes())
    assert secret["secret"] not in result.output
    assert os.environ.get("SCAD_HOME") == str(home.root)
