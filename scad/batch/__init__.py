"""Batches: many prompts as supervised headless runs.

A batch is a manifest and a log of its own (:mod:`.store`), made and handed to a
supervisor in a background process (:mod:`.process`), which schedules its runs
(:mod:`.scheduler`) under a pure policy of concurrency, backoff and budget
(:mod:`.policy`) fed by the runs' signals (:mod:`.signals`). Every view of it
(:mod:`.view`) only reads those logs, folded into where its items stand
(:mod:`.state`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from .process import create_batch, requeue, spawn_supervisor, stop_batch
    from .prompts import BatchPrompt, parse_prompts
    from .run import run_batch
    from .state import BatchState
    from .store import BatchManifest, BatchOptions, BatchPaths, list_batches, load_manifest
    from .view import BatchView, BatchWatcher

__all__ = [
    "BatchManifest",
    "BatchOptions",
    "BatchPaths",
    "BatchPrompt",
    "BatchState",
    "BatchView",
    "BatchWatcher",
    "create_batch",
    "list_batches",
    "load_manifest",
    "parse_prompts",
    "requeue",
    "run_batch",
    "spawn_supervisor",
    "stop_batch",
]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "BatchManifest": "store",
        "BatchOptions": "store",
        "BatchPaths": "store",
        "BatchPrompt": "prompts",
        "BatchState": "state",
        "BatchView": "view",
        "BatchWatcher": "view",
        "create_batch": "process",
        "list_batches": "store",
        "load_manifest": "store",
        "parse_prompts": "prompts",
        "requeue": "process",
        "run_batch": "run",
        "spawn_supervisor": "process",
        "stop_batch": "process",
    },
)
