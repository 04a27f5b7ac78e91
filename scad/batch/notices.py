"""What a batch tells its user, and the record that it told them exactly once.

A ``run-needs-attention`` notice goes out when an item ends for good the way
:data:`~scad.notify.notice.ATTENTION` names; a ``batch-ended`` notice when the
supervisor is done. Each is claimed in the batch's log (:class:`Notified`) before it is
delivered, so a supervisor that picks up a batch after another died sends only
what no one claimed: a notice is never sent twice, and one is lost only if the
supervisor dies between its claim and its delivery. Deliveries run beside the batch
(:class:`~scad.notify.notifier.Notifier`); a notifier that failed is a
:class:`NotifyFailed` in the log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

from ..notify.deliver import Delivery
from ..notify.notice import ATTENTION, Notice
from ..notify.notifier import Notifier
from ..runs.records import now_iso
from ..text import printable
from .events import AttemptEnded, BatchEvent, Notified, NotifyFailed
from .state import BatchState
from .store import BatchManifest

__all__ = ["BatchNotices", "attention_notice", "ended_notice", "unclaimed"]


def attention_notice(manifest: BatchManifest, event: AttemptEnded) -> Notice | None:
    """The notice an attempt's end calls for, if it is final and wants a person."""
    if not event.final or event.status not in ATTENTION:
        return None
    return Notice(
        kind="run-needs-attention",
        config=manifest.config,
        batch_id=manifest.batch_id,
        run_id=event.run_id,
        item=event.item,
        outcome=event.status,
        # Claude's last words or a check's output may be in it: shown, never obeyed.
        detail=None if event.detail is None else printable(event.detail),
        time=now_iso(),
    )


def ended_notice(manifest: BatchManifest, state: BatchState) -> Notice:
    counts = Counter(item.status for item in state.items)
    return Notice(
        kind="batch-ended",
        config=manifest.config,
        batch_id=manifest.batch_id,
        outcome="succeeded" if state.succeeded else "failed",
        detail=f"{counts['succeeded']}/{len(state.items)} succeeded",
        counts=dict(sorted(counts.items())),
        time=now_iso(),
    )


def unclaimed(events: Iterable[BatchEvent]) -> list[AttemptEnded]:
    """The final ends wanting a person that no supervisor claimed a notice for. Pure."""
    ends: dict[tuple[int, int], AttemptEnded] = {}
    for event in events:
        match event:
            case AttemptEnded(final=True) if event.status in ATTENTION:
                ends[(event.item, event.attempt)] = event
            case Notified(kind="run-needs-attention", item=int(item), attempt=int(attempt)):
                ends.pop((item, attempt), None)
    return list(ends.values())


class BatchNotices:
    """A batch's notices: claimed in its ``log``, delivered by ``notifier``."""

    def __init__(
        self,
        manifest: BatchManifest,
        notifier: Notifier,
        log: Callable[[BatchEvent], Awaitable[None]],
    ) -> None:
        self.manifest = manifest
        self.notifier = notifier
        self.log = log

    async def attempt_ended(self, event: AttemptEnded) -> None:
        notice = attention_notice(self.manifest, event)
        if notice is not None and self.notifier.configured:
            await self.log(Notified(kind=notice.kind, item=event.item, attempt=event.attempt))
            self.notifier.send(notice)

    async def catch_up(self, events: Iterable[BatchEvent]) -> None:
        """Send what a supervisor before this one owed and never claimed."""
        for event in unclaimed(events):
            await self.attempt_ended(event)

    async def batch_ended(self, state: BatchState) -> None:
        if self.notifier.configured:
            await self.log(Notified(kind="batch-ended"))
            self.notifier.send(ended_notice(self.manifest, state))

    async def report(self, notice: Notice, deliveries: list[Delivery]) -> None:
        """A notifier that failed, in the batch's log."""
        for delivery in deliveries:
            if not delivery.ok:
                await self.log(
                    NotifyFailed(kind=notice.kind, target=delivery.target, detail=delivery.detail)
                )
