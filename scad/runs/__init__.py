"""Runs: their records, their event logs, and what watches and sums them up.

A run is a folder (:mod:`.records`); its event log (:mod:`.events`, read by
:mod:`.logread`) is written only by scad, from the container's output as it comes
(:mod:`.supervisor`) or caught up from the engine's log later (:mod:`.catchup`),
exactly once either way; its containers are found and removed by its label
(:mod:`.containers`). Claude's lines are typed on reading (:mod:`.streamjson`),
summed up (:mod:`.accounting`, :mod:`.summaries`) and merged across runs
(:mod:`.merged`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from .accounting import RunSummary, Usage, summarise
    from .catchup import catch_up, follow_engine, stream_events, tail_events
    from .containers import remove_containers, retire_containers
    from .envelopes import Envelope
    from .events import append_event
    from .logread import each_event, read_all_events, read_events
    from .merged import follow_logs, merge_logs
    from .outcomes import Outcome
    from .records import RunPaths, RunRecord, find_run, list_runs, load_run, save_run
    from .states import Status
    from .summaries import LogSummary, log_summaries, log_summary
    from .supervisor import adopt, launch, stop_run, supervise

__all__ = [
    "Envelope",
    "LogSummary",
    "Outcome",
    "RunPaths",
    "RunRecord",
    "RunSummary",
    "Status",
    "Usage",
    "adopt",
    "append_event",
    "catch_up",
    "each_event",
    "find_run",
    "follow_engine",
    "follow_logs",
    "launch",
    "list_runs",
    "load_run",
    "log_summaries",
    "log_summary",
    "merge_logs",
    "read_all_events",
    "read_events",
    "remove_containers",
    "retire_containers",
    "save_run",
    "stop_run",
    "stream_events",
    "summarise",
    "supervise",
    "tail_events",
]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "Envelope": "envelopes",
        "LogSummary": "summaries",
        "Outcome": "outcomes",
        "RunPaths": "records",
        "RunRecord": "records",
        "RunSummary": "accounting",
        "Status": "states",
        "Usage": "accounting",
        "adopt": "supervisor",
        "append_event": "events",
        "catch_up": "catchup",
        "each_event": "logread",
        "follow_engine": "catchup",
        "follow_logs": "merged",
        "launch": "supervisor",
        "list_runs": "records",
        "find_run": "records",
        "load_run": "records",
        "log_summaries": "summaries",
        "log_summary": "summaries",
        "merge_logs": "merged",
        "read_all_events": "logread",
        "read_events": "logread",
        "remove_containers": "containers",
        "retire_containers": "containers",
        "save_run": "records",
        "stop_run": "supervisor",
        "stream_events": "catchup",
        "summarise": "accounting",
        "supervise": "supervisor",
        "tail_events": "catchup",
    },
)
