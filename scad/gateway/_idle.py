"""A run saying it waits for its user (``POST /scad/idle``, its own token), and the
notice the host sends for it.

The request is taken to mean that and nothing more: its body is never read, and the
notice (its config, run, batch and time) is built from the run's registration and the
host's clock, to the notifier the run was registered with. A run is heard at most once
per its ``idle_seconds`` (an agent can call in a loop); the delivery runs in the
gateway's notifier, so one that hangs holds no answer up, and one that fails is the
run's gateway event.
"""

from __future__ import annotations

import anyio
from aiohttp import web

from ..home import Home
from ..notify.deliver import Delivery
from ..notify.notice import Notice
from ..notify.notifier import Notifier
from ..runs.records import now_iso
from ._events import NotifyFailed
from ._journal import Journal
from ._registry import registration_of

__all__ = ["IdleGate", "IdleNotices", "report_failures"]

#: Runs whose last notice is remembered at once: more than a home runs, and bounded
#: against anything.
_REMEMBERED = 4096


class IdleGate:
    """Which runs may be heard now: one notice per run per its interval. Pure (the
    caller tells the time), and bounded: at most ``capacity`` runs remembered; when
    that many wait out their interval, a new run is not heard until one has."""

    def __init__(self, capacity: int = _REMEMBERED) -> None:
        self._capacity = capacity
        #: Run id -> when it may be heard again.
        self._quiet_until: dict[str, float] = {}

    def admit(self, run_id: str, interval: float, now: float) -> bool:
        """Whether ``run_id`` is heard at ``now``; if so, not again for ``interval``."""
        until = self._quiet_until.get(run_id)
        if until is not None and now < until:
            return False
        if until is None and len(self._quiet_until) >= self._capacity:
            self._quiet_until = {r: u for r, u in self._quiet_until.items() if now < u}
            if len(self._quiet_until) >= self._capacity:
                return False
        self._quiet_until[run_id] = now + interval
        return True

    def __len__(self) -> int:
        return len(self._quiet_until)


class IdleNotices:
    """The handler of :data:`~scad.notify.hook.IDLE_PATH`."""

    def __init__(self, home: Home, notifier: Notifier) -> None:
        self._home = home
        self._notifier = notifier
        self._gate = IdleGate()

    async def heard(self, request: web.Request) -> web.Response:
        registration = registration_of(self._home, request.headers)
        if registration is None:
            return _answer(401, "this token opens no live run")
        settings, config = registration.notify, registration.config
        if settings is None or config is None or not (settings.command or settings.url):
            return web.Response(status=204)  # nobody is told when this run waits
        if not self._gate.admit(registration.run_id, settings.idle_seconds, anyio.current_time()):
            return _answer(429, "this run was heard less than its idle_seconds ago")
        notice = Notice(
            kind="session-idle",
            config=config,
            run_id=registration.run_id,
            batch_id=registration.batch,
            time=now_iso(),
        )
        self._notifier.send(notice, settings)
        return web.Response(status=202)


def _answer(status: int, message: str) -> web.Response:
    return web.json_response({"scad": message}, status=status)


async def report_failures(journal: Journal, notice: Notice, deliveries: list[Delivery]) -> None:
    """Log each delivery of ``notice`` that failed as its run's gateway event."""
    if notice.run_id is None:
        return
    for delivery in deliveries:
        if not delivery.ok:
            await journal.record(
                notice.run_id,
                NotifyFailed(
                    ts=now_iso(), kind=notice.kind, target=delivery.target, detail=delivery.detail
                ),
            )
