"""Sending notices in the background: :meth:`Notifier.send` returns at once, the
delivery runs in the notifier's own task group under its time bound, and how it went
is handed to ``report`` (a log), never raised. Leaving the ``async with`` waits for
the deliveries under way, each bounded by the settings' timeout."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

import anyio.abc

from ..config.schema import NotifySettings
from ..taskgroups import open_task_group
from .deliver import Delivery, deliver
from .notice import Notice

__all__ = ["Deliver", "Notifier", "Report"]

#: Where deliveries go (:func:`~scad.notify.deliver.deliver`; a test gives its own).
Deliver = Callable[[NotifySettings, Notice], Awaitable[list[Delivery]]]
#: Told how each notice was delivered.
Report = Callable[[Notice, list[Delivery]], Awaitable[None]]


class Notifier:
    """The notices of one process (a batch's supervisor, the gateway), sent beside
    its work so that a notifier that hangs holds nothing up."""

    def __init__(
        self, settings: NotifySettings, report: Report, *, deliver: Deliver = deliver
    ) -> None:
        self.settings = settings
        self._report = report
        self._deliver = deliver
        self._group = open_task_group()
        self._tg: anyio.abc.TaskGroup | None = None

    @property
    def configured(self) -> bool:
        return bool(self.settings.command or self.settings.url)

    def send(self, notice: Notice, settings: NotifySettings | None = None) -> None:
        """Deliver ``notice`` (to ``settings``, else the notifier's own) in the background."""
        assert self._tg is not None, "send within `async with Notifier(...)`"
        self._tg.start_soon(self._send, notice, settings or self.settings)

    def cancel(self) -> None:
        """Give up the deliveries under way (their process stops)."""
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    async def _send(self, notice: Notice, settings: NotifySettings) -> None:
        if not (settings.command or settings.url):
            return
        try:
            deliveries = await self._deliver(settings, notice)
        except Exception as exc:  # a notifier never takes its process down
            deliveries = [Delivery(target="command", ok=False, detail=f"not delivered: {exc}")]
        await self._report(notice, deliveries)

    async def __aenter__(self) -> Notifier:
        self._tg = await self._group.__aenter__()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        try:
            return await self._group.__aexit__(kind, error, traceback)
        finally:
            self._tg = None
