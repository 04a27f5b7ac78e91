"""A batch's notices: one ``run-needs-attention`` per run that ended wanting a
person, one ``batch-ended``, never twice across supervisors, and a notifier that
hangs or fails holding nothing up."""

from __future__ import annotations

from pathlib import Path

import anyio
import msgspec
import pytest

from scad.batch.events import AttemptEnded, Notified, NotifyFailed
from scad.batch.notices import unclaimed
from scad.batch.store import BatchPaths, append_batch_event, read_batch_events
from scad.config.schema import Config, NotifySettings
from scad.home import Home
from scad.notify.deliver import Delivery
from scad.notify.notice import Notice
from tests.fakes import Script
from tests.unit.test_dispatch import INIT, OK, Scripted, make_batch, out, project, result, run

pytestmark = [pytest.mark.anyio]
__all__ = ["project"]

FAILS = Script(out(INIT, result(is_error=True)), exit_code=1)


def with_notify(config: Config) -> Config:
    return msgspec.structs.replace(config, notify=NotifySettings(url="http://127.0.0.1:9/n"))


class Recorder:
    """A deliver() that records each notice, and holds every delivery until released."""

    def __init__(self, *, ok: bool = True) -> None:
        self.notices: list[Notice] = []
        self.release = anyio.Event()
        self.ok = ok

    async def __call__(self, settings: NotifySettings, notice: Notice) -> list[Delivery]:
        self.notices.append(notice)
        await self.release.wait()
        return [Delivery(target="url", ok=self.ok, detail="HTTP 500" if not self.ok else "")]


async def test_one_notice_for_the_failed_run_and_one_for_the_end_while_the_notifier_hangs(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    batch_id = make_batch(home, ["fails", "works"], parallel=1)
    engine = Scripted({"01": [FAILS], "02": [OK]})
    notifier = Recorder()
    paths = BatchPaths(home, batch_id)

    async def release_once_ended() -> None:
        # The batch goes on, and ends, with the first notice still undelivered (the
        # end's notice is handed over just after the end is logged).
        with anyio.fail_after(30):
            while not (
                any(e.__class__.__name__ == "Ended" for e in read_batch_events(paths))
                and len(notifier.notices) == 2
            ):
                await anyio.sleep(0.01)
        notifier.release.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(release_once_ended)
        state = await run(engine, home, with_notify(config), batch_id, deliver=notifier)
    attention, ended = notifier.notices
    assert attention.kind == "run-needs-attention" and attention.item == 1
    assert attention.outcome == "failed" and attention.run_id == state.items[0].run_id
    assert attention.batch_id == batch_id and attention.config == "p"
    assert ended.kind == "batch-ended" and ended.counts == {"failed": 1, "succeeded": 1}
    assert ended.outcome == "failed" and ended.detail == "1/2 succeeded"


async def test_a_notifier_that_fails_is_noted_in_the_batch_log(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    batch_id = make_batch(home, ["works"])
    notifier = Recorder(ok=False)
    notifier.release.set()
    state = await run(Scripted({"01": [OK]}), home, with_notify(config), batch_id,
                      deliver=notifier)  # fmt: skip
    failed = [
        e for e in read_batch_events(BatchPaths(home, batch_id)) if isinstance(e, NotifyFailed)
    ]
    assert [(e.kind, e.target, e.detail) for e in failed] == [("batch-ended", "url", "HTTP 500")]
    assert "batch-ended notice to the url: HTTP 500" in state.notes


async def test_a_new_supervisor_sends_only_what_no_earlier_one_claimed(
    project: tuple[Home, Config], tmp_path: Path
) -> None:
    home, config = project
    batch_id = make_batch(home, ["a", "b"])
    paths = BatchPaths(home, batch_id)
    for item in (1, 2):
        append_batch_event(paths, AttemptEnded(item=item, run_id=f"r{item}", attempt=1,
                                               status="failed", final=True))  # fmt: skip
    # The dead supervisor claimed item 1's notice; item 2's it never got to.
    append_batch_event(paths, Notified(kind="run-needs-attention", item=1, attempt=1))
    notifier = Recorder()
    notifier.release.set()
    await run(Scripted({}), home, with_notify(config), batch_id, deliver=notifier)
    assert [(n.kind, n.item) for n in notifier.notices] == [
        ("run-needs-attention", 2),
        ("batch-ended", None),
    ]
    # And the next one sends no run's notice again.
    assert unclaimed(read_batch_events(paths)) == []


async def test_without_a_notifier_nothing_is_claimed(project: tuple[Home, Config]) -> None:
    home, config = project
    batch_id = make_batch(home, ["fails"])
    await run(Scripted({"01": [FAILS]}), home, config, batch_id)
    assert not any(isinstance(e, Notified) for e in read_batch_events(BatchPaths(home, batch_id)))


async def test_notify_in_the_batch_options_stands_in_for_the_config(
    project: tuple[Home, Config],
) -> None:
    home, config = project
    batch_id = make_batch(home, ["works"], notify=NotifySettings(command="notify-me"))
    notifier = Recorder()
    notifier.release.set()
    await run(Scripted({"01": [OK]}), home, config, batch_id, deliver=notifier)
    assert [n.kind for n in notifier.notices] == ["batch-ended"]


def test_a_notice_shows_what_an_agent_said_escaped() -> None:
    """A run's last words and its checks' output reach a notice's detail: a notifier
    that shows it (a desktop notice, a terminal, a chat) shows it as written, never
    obeys an escape or a bidirectional override in it."""
    import json

    from scad.batch.notices import attention_notice
    from scad.batch.store import BatchManifest, BatchOptions
    from scad.notify.notice import encode_notice

    manifest = BatchManifest(
        batch_id="b", config="c", tag="t", created="now", image="i", source="-",
        options=BatchOptions(), items=[],
    )  # fmt: skip
    said = "done\x1b]52;c;cm0gLXJmIH4=\x07\r\u202eexe.txt\u200b\x85"
    event = AttemptEnded(item=1, run_id="r1", attempt=1, status="failed", final=True, detail=said)
    notice = attention_notice(manifest, event)
    assert notice is not None
    detail = json.loads(encode_notice(notice))["detail"]
    assert detail == "done\\x1b]52;c;cm0gLXJmIH4=\\x07\\x0d\\u202eexe.txt\\u200b\\x85"
