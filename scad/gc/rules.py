"""What gc collects and what it keeps, as pure functions of what was seen."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from ..checks.folder import CHECK_PREFIX, Holder
from ..engine import ContainerState, ImageInfo, labels
from ..names import image_repository, is_doctor_container
from ..runs.records import parse_iso
from .items import STALE_SECONDS, GcItem, GcKept, GcPlan
from .scan import SeenBatch, SeenBorrower, SeenRun

__all__ = [
    "batch_verdict",
    "borrowed_verdict",
    "can_check_clones",
    "check_leftovers",
    "doctor_leftovers",
    "orphan_containers",
    "run_reason",
    "run_verdict",
    "stale_images",
    "unused_borrowed",
]


def orphan_containers(
    containers: Iterable[ContainerState], run_names: set[str], home: str
) -> GcPlan:
    """This home's containers whose run label names a run with no run directory.

    Such a container's output is detached from scad (its event log went with the
    run directory) and nothing will read it. A running one is listed as running:
    removal stops it first (gracefully, as ``session stop`` does), then removes it.
    A container is this home's when its home label is ``home`` (the home's
    resolved root). Other homes may share the engine, and a container made before
    containers named their home may be anyone's: such containers are kept.
    """
    items, kept = [], []
    for container in containers:
        run_id = container.labels.get(labels.RUN)
        if run_id is None or run_id in run_names:
            continue
        name = container.name or container.id[:12]
        maker = container.labels.get(labels.HOME)
        if maker is None:
            why = (
                "made before containers named their scad home; "
                f"remove it with `docker rm -f {name}` if it is yours"
            )
            kept.append(GcKept(kind="container", name=name, reason=why))
            continue
        if maker != home:
            why = f"made by another scad home ({maker})"
            kept.append(GcKept(kind="container", name=name, reason=why, home=maker))
            continue
        reason = f"its run {run_id} has no run directory"
        if container.running:
            reason += "; it is running: removing it stops it"
        items.append(
            GcItem(kind="container", name=name, reason=reason, target=container.id, runs=[run_id])
        )
    return GcPlan(items=items, kept=kept)


def doctor_leftovers(containers: Iterable[ContainerState], now: float) -> GcPlan:
    """Throwaway containers of ``scad doctor`` made over :data:`STALE_SECONDS` ago.

    A doctor removes each container it makes within minutes (its checks have time
    limits), so an older one was left by a doctor that was killed. They hold
    nothing: whichever home's doctor made them, they go. A younger one is left to
    the doctor that may be using it, and so is one whose age cannot be told. A
    doctor's container carries its label and its name (a label alone could come
    from an image).
    """
    items, kept = [], []
    for container in containers:
        name = container.name
        if labels.DOCTOR not in container.labels or not is_doctor_container(name):
            continue
        made = _seconds(container.created)
        if made is None:
            why = f"made by scad doctor at a time the engine does not say ({container.created!r})"
            kept.append(GcKept(kind="container", name=name, reason=why))
        elif now - made < STALE_SECONDS:
            why = "made by scad doctor under an hour ago: it may be in use"
            kept.append(GcKept(kind="container", name=name, reason=why))
        else:
            reason = "left by a scad doctor that did not finish"
            items.append(GcItem(kind="container", name=name, reason=reason, target=container.id))
    return GcPlan(items=items, kept=kept)


def check_leftovers(
    containers: Iterable[ContainerState], holders: Mapping[str, Holder], home: str
) -> GcPlan:
    """Containers of checks whose scad process is gone (killed mid-check).

    A check's container names its folder, which the scad process running the check
    holds locked (``holders``: each folder's holder, see :mod:`scad.checks.folder`).
    Held, the check is going: it is kept. Left, its process is gone: it goes. With no
    folder at all, it goes when it is this home's (its process removes the container
    before the folder); another home's may be another host's, whose folders are not
    here. One that names no folder cannot be told: kept.
    """
    items, kept = [], []
    for container in containers:
        name = container.name
        if labels.CHECK not in container.labels or not name.startswith(CHECK_PREFIX):
            continue
        folder = container.labels.get(labels.CHECK_FOLDER)
        held = holders.get(folder, "unknown") if folder else "unknown"
        maker = container.labels.get(labels.HOME)
        if held == "held":
            why = "its check is going (the scad process running it is alive)"
            kept.append(GcKept(kind="container", name=name, reason=why))
        elif held == "gone" and maker != home:
            why = f"made by another scad home ({maker}) for a check whose folder is not here"
            kept.append(GcKept(kind="container", name=name, reason=why, home=maker))
        elif held == "unknown":
            why = (
                "a check's, which cannot say whether it is going; "
                f"remove it with `docker rm -f {name}` once it is not"
            )
            kept.append(GcKept(kind="container", name=name, reason=why))
        else:
            reason = "left by a scad that was stopped mid-check"
            if container.running:
                reason += "; it is running: removing it stops it"
            items.append(GcItem(kind="container", name=name, reason=reason, target=container.id))
    return GcPlan(items=items, kept=kept)


def stale_images(
    images: Iterable[ImageInfo],
    containers: Iterable[ContainerState],
    home: str,
    configs: Collection[str],
) -> GcPlan:
    """The images of the home whose label is ``home`` that no container uses (any
    container, scad's or not) and that are not the newest of their config; of a
    config the home no longer has (not in ``configs``), every one no container uses.

    An image is the home's when it carries the config label and every tag it has is
    in the home's repository for that config (or in ``scad-NAME``, as images were
    named before each home had its own: taken as the home's when the home has the
    config, as a container that names no home is). One also tagged by another home
    is kept as that home's (its key, as its repository names it); one also tagged
    by hand is someone else's too, and left. Of each config, the image tagged
    ``latest`` and the newest by creation stay: the next run of the config uses them.
    """
    in_use = {container.image_id for container in containers}
    by_config: dict[str, list[ImageInfo]] = {}
    kept: list[GcKept] = []
    for image in images:
        config = image.labels.get(labels.CONFIG)
        if not config:
            continue
        own = f"{image_repository(config, home)}:"
        legacy = f"scad-{config}:"
        claimed = config in configs or any(tag.startswith(own) for tag in image.tags)
        ours = (own, legacy) if claimed else (own,)
        foreign = sorted(tag for tag in image.tags if not tag.startswith(ours))
        name = _image_name(image, ours)
        if not foreign:
            by_config.setdefault(config, []).append(image)
        elif len(foreign) < len(image.tags):
            kept.append(_also_tagged(name, config, foreign))
        elif all(tag.startswith(legacy) for tag in foreign):
            why = (
                f"named before each scad home had its own, of a config this home does not "
                f"have; remove it with `docker rmi {foreign[0]}` if it is yours"
            )
            kept.append(GcKept(kind="image", name=name, reason=why))
    items = []
    for config, group in sorted(by_config.items()):
        if config not in configs:
            for image in sorted(group, key=_made):
                name = _image_name(image)
                if image.id in in_use:
                    kept.append(GcKept(kind="image", name=name, reason="a container uses it"))
                else:
                    reason = f"config {config} no longer exists; no container uses it"
                    items.append(_image_item(image, reason))
            continue
        latest = {f"{image_repository(config, home)}:latest", f"scad-{config}:latest"}
        # A list gives whole seconds: of two builds in one second, ``latest`` is the newer.
        newest = max(group, key=lambda image: (_made(image), bool(latest & set(image.tags))))
        for image in sorted(group, key=_made):
            name = _image_name(image)
            if latest & set(image.tags):
                kept.append(
                    GcKept(kind="image", name=name, reason=f"the latest of config {config}")
                )
            elif image is newest:
                kept.append(
                    GcKept(kind="image", name=name, reason=f"the newest of config {config}")
                )
            elif image.id in in_use:
                kept.append(GcKept(kind="image", name=name, reason="a container uses it"))
            else:
                what = "an older image" if image.tags else "an untagged image"
                items.append(_image_item(image, f"{what} of config {config}; no container uses it"))
    return GcPlan(items=items, kept=kept)


def _image_item(image: ImageInfo, reason: str) -> GcItem:
    return GcItem(
        kind="image",
        name=_image_name(image),
        reason=reason,
        target=image.id,
        tags=sorted(image.tags),
    )


def _also_tagged(name: str, config: str, foreign: list[str]) -> GcKept:
    """An image of this home also tagged elsewhere: another home's when one of its
    repositories (``scad-CONFIG-KEY``, see :func:`image_repository`) tags it, the
    key saying which home; else someone's by hand."""
    other_home = re.compile(rf"scad-{re.escape(config)}-([0-9a-f]{{8}})")
    for tag in foreign:
        if match := other_home.fullmatch(tag.partition(":")[0]):
            reason = f"also tagged {tag} by another scad home"
            return GcKept(kind="image", name=name, reason=reason, home=match.group(1))
    return GcKept(kind="image", name=name, reason=f"also tagged {foreign[0]}")


def _image_name(image: ImageInfo, ours: tuple[str, ...] = ()) -> str:
    """One of the image's tags (one of this home's first), and how many more it
    has; its short id when it has none."""
    tags = sorted(image.tags, key=lambda tag: (not tag.startswith(ours), tag))
    if not tags:
        return image.id.removeprefix("sha256:")[:12]
    return tags[0] + (f" (+{len(tags) - 1})" if len(tags) > 1 else "")


def _seconds(created: str) -> float | None:
    """A creation time as the engine gives it (a list: UNIX seconds; an inspect: ISO
    8601) in UNIX seconds; None when it cannot be read."""
    if created.isdigit():
        return float(created)
    try:
        return parse_iso(created).timestamp()
    except ValueError:
        return None


def _made(image: ImageInfo) -> float:
    """An image's creation time, for ordering (one that cannot be read: oldest)."""
    return _seconds(image.created) or 0.0


def can_check_clones(run: SeenRun, container: str | None, batch: str | None) -> bool:
    """Whether the run's clones are all that keeps it: then reading them says
    whether they hold work the host lacks (a run with a container or a live
    process is left to ``session clean`` and its own checks)."""
    return bool(run.record and run.clones and not run.busy and not batch and not container)


def run_verdict(
    run: SeenRun,
    *,
    container: str | None,
    batch: str | None,
    now: float,
    clones_note: str | None = None,
) -> str | None:
    """Why the run directory stays, or None when it goes.

    It stays while a live process uses it (a supervisor writing its log, or a
    writer holding its log's lock), while its batch's supervisor is alive (which
    may start it again), while any container of it exists, while it has
    ``worktrees/`` at all (its clones may hold the only copy of commits; with no
    readable ``run.json`` it is never touched), and while it has ``stores/`` and
    was not cleaned (a store holds copies of its clones' commits). A run that was
    not cleaned also stays until nothing touched it for :data:`STALE_SECONDS`: a
    run being prepared has no container yet (and, for a moment, no clones).
    ``clones_note`` says what its clones hold, when they were read.
    """
    run_id = run.run_id
    if run.busy:
        return run.busy
    if batch:
        return batch
    if container:
        return f"its container {container[:12]} exists; `scad session clean {run_id}` removes it"
    if run.worktrees:
        if run.record is None:
            return f"it has clones and no readable run.json ({run.unreadable}); look at it by hand"
        return clones_note or (
            f"it has clones; `scad session clean {run_id}` removes them once they are fetched"
        )
    cleaned = run.record is not None and run.record.cleaned
    if run.stores and not cleaned:
        return "its stores/ hold copies of its clones' commits; look at it by hand"
    if not cleaned and now - run.touched < STALE_SECONDS:
        return "touched less than an hour ago (it may be starting)"
    return None


def run_reason(run: SeenRun) -> str:
    """Why a run directory that goes, goes."""
    if run.record is None:
        return f"no readable run.json ({run.unreadable}), no container, no clones"
    if run.record.cleaned:
        return f"cleaned {run.record.cleaned}; its record and event log go"
    return "no container and no clones"


def batch_verdict(batch: SeenBatch, *, done: set[str], now: float) -> str | None:
    """Why the batch directory stays, or None when it goes.

    It stays while its supervisor is alive, while its manifest is unreadable,
    until nothing touched it for :data:`STALE_SECONDS` (a batch is made, then its
    supervisor starts), and while any of its runs is neither cleaned nor gone
    (a run this plan removes counts as gone).
    """
    if batch.pid is not None:
        return f"its supervisor is alive (pid {batch.pid})"
    if batch.problem and batch.problem != "no manifest":
        return f"its manifest is {batch.problem}; look at it by hand"
    if now - batch.touched < STALE_SECONDS:
        return "touched less than an hour ago"
    waiting = [run_id for run_id in batch.runs if run_id not in done]
    if waiting:
        more = f" and {len(waiting) - 3} more" if len(waiting) > 3 else ""
        return f"its run(s) {', '.join(waiting[:3])}{more} are not cleaned"
    return None


def unused_borrowed(
    stores: Iterable[str], borrowers: Collection[SeenBorrower], folder: Path
) -> GcPlan:
    """The borrowed stores (their names, in ``folder``) that no run borrows from (see
    :func:`borrowed_verdict`); their sizes are not known here."""
    items, kept = [], []
    for name in stores:
        why = borrowed_verdict(name, borrowers)
        if why is not None:
            kept.append(GcKept(kind="borrowed", name=name, reason=why))
        else:
            reason = "no run with clones borrows its objects; the next run copies the host again"
            items.append(
                GcItem(kind="borrowed", name=name, reason=reason, target=str(folder / name))
            )
    return GcPlan(items=items, kept=kept)


def borrowed_verdict(name: str, borrowers: Collection[SeenBorrower]) -> str | None:
    """Why the borrowed store ``name`` stays, or None when it goes.

    It stays while a run borrows from it, as the run's record says (removing it would
    take its clones' history, and with it their unfetched work), and while a run that
    may borrow has no readable record, or one that names no store (then which store
    it borrows is not known).
    """
    for borrower in borrowers:
        if borrower.unknown == "unreadable":
            return (
                f"run {borrower.run_id} has no readable run.json: "
                "which stores its clones borrow from is not known"
            )
        if borrower.unknown == "unrecorded":
            return (
                f"run {borrower.run_id} does not record which stores its clones borrow from "
                "(it was made before runs did)"
            )
    lent = [borrower.run_id for borrower in borrowers if name in borrower.stores]
    if not lent:
        return None
    more = f" and {len(lent) - 3} more" if len(lent) > 3 else ""
    return f"lent to {len(lent)} run{'s' if len(lent) > 1 else ''} ({', '.join(lent[:3])}{more})"
