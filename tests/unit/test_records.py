"""Run records written by an earlier version still read: a golden run.json that names
its batch ``batch`` (now ``batch_id``), in a run's folder and in the ledger."""

from __future__ import annotations

from pathlib import Path

import msgspec

from scad.home import Home
from scad.runs.ledger import collected_run
from scad.runs.records import RunPaths, load_run, save_run
from scad.sessions.control import select_runs

GOLDEN = Path(__file__).parent / "golden" / "run-schema1.json"
RUN_ID = "calc-fix-02-Nov27-1000"
BATCH = "calc-fix-Nov27-1000"


def golden_run(home: Home) -> RunPaths:
    paths = RunPaths(home, RUN_ID)
    paths.root.mkdir(parents=True)
    paths.record.write_bytes(GOLDEN.read_bytes())
    return paths


def test_a_run_json_of_the_first_schema_keeps_its_batch(tmp_path: Path) -> None:
    home = Home(tmp_path)
    golden_run(home)
    record = load_run(home, RUN_ID)
    assert (record.batch_id, record.item, record.container_id) == (BATCH, 2, "3bddb17be937")
    assert [r.run_id for r in select_runs(home, run_ids=(), batch=BATCH)] == [RUN_ID]


def test_a_record_read_the_old_way_is_written_the_new_way(tmp_path: Path) -> None:
    home = Home(tmp_path)
    paths = golden_run(home)
    save_run(home, load_run(home, RUN_ID))
    written = msgspec.json.decode(paths.record.read_bytes())
    assert written["batch_id"] == BATCH and "batch" not in written


def test_a_ledger_entry_of_the_first_schema_keeps_its_batch(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.ledger.mkdir(parents=True)
    entry = b'{"record":' + GOLDEN.read_bytes() + b',"log":{},"collected":"2026-11-28T09:00:00Z"}'
    (home.ledger / f"{RUN_ID}.json").write_bytes(entry)
    collected = collected_run(home, RUN_ID)
    assert collected is not None and collected.record.batch_id == BATCH
