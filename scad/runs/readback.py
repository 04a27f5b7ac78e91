"""What a run's event log says of how its container ended: the outcome of one of its
lives (:func:`logged_outcome`), whether ``session stop`` stopped it, and the
gateway's refusal of it for its budget. The supervisor reads its outcome back
from the log when it followed the container through the engine's log rather than
its attached output (:mod:`._regain`), and a swarm's run always does."""

from __future__ import annotations

import anyio

from ..engine import ContainerExit
from .envelopes import ClaudeLine
from .gatewaylog import BudgetRefused, refused_by_budget
from .lives import RunLives, refused_payment
from .logread import each_event
from .outcomes import Outcome, Watch, outcome_of
from .records import RunPaths

__all__ = ["budget_refusal", "logged_outcome", "stopped_by_user"]

#: How long a run that says the API refused it with 402 waits for the gateway's word.
REFUSAL_WAIT = 2.0


async def logged_outcome(paths: RunPaths, run_id: str, container_id: str, watch: Watch) -> Outcome:
    """The outcome of a container's life as its event log tells it."""
    cid = container_id[:12]
    lives = RunLives()
    life = None
    async for envelope in each_event(paths):
        about = lives.feed(envelope)
        if about is None or about.cid != cid:
            continue
        life = about
        if isinstance(envelope, ClaudeLine):
            watch.saw_envelope(envelope)
    exit = life.exit if life is not None else None
    lost = life.lost if life is not None else None
    if exit is None or lost is not None:
        detail = lost.detail if lost else "the container ended with no exit in its log"
        return Outcome(run_id=run_id, outcome="crashed", container_id=container_id, detail=detail)
    if exit.stderr:
        watch.stderr.extend(exit.stderr.splitlines())
    watch.stop = watch.stop or exit.stop
    return outcome_of(
        run_id, container_id, ContainerExit(exit_code=exit.exit_code, oom=exit.oom), watch,
        await budget_refusal(paths, watch), stopped=life is not None and life.stopped,
    )  # fmt: skip


async def stopped_by_user(paths: RunPaths) -> bool:
    """Whether ``session stop`` stopped the run's last container (its ``stopped``
    comes after the container's start)."""
    lives = RunLives()
    async for envelope in each_event(paths):
        lives.feed(envelope)
    return lives.stopped


async def budget_refusal(paths: RunPaths, watch: Watch) -> BudgetRefused | None:
    """The gateway's refusal of the run for its budget, when its result says 402 (the
    gateway writes its events a moment after it answers: they are given that moment)."""
    if not refused_payment(watch.result):
        return None
    with anyio.move_on_after(REFUSAL_WAIT):
        while True:
            refusal = await anyio.to_thread.run_sync(refused_by_budget, paths.gateway_events)
            if refusal is not None:
                return refusal
            await anyio.sleep(0.05)
    return None
