"""Building a config's image: up-to-date check, build with progress, prune.

Progress goes to a callback as :class:`BuildProgress` Structs; the library
itself prints nothing.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..config.certificates import host_certificates
from ..config.schema import Config
from ..engine import labels
from ..errors import BaseImageMissing, BuildFailed, EngineError, UntrustedCertificate
from ..home import Home
from ..names import image_repository
from ..threads import async_twin
from .render import BuildContext, create_build_context
from .tls import untrusted_certificate

if TYPE_CHECKING:  # the engine module imports aiodocker, which is slow to import
    from ..engine import Engine

__all__ = ["BuildProgress", "BuildResult", "abuild_context", "build_context", "build_image"]

_STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
#: Lines of output kept to show when a step fails.
TAIL_LINES = 15
PULL_TIMEOUT = 300


class BuildProgress(msgspec.Struct, frozen=True, kw_only=True):
    """A build step starting (``line`` is None), or a line of its output."""

    step: int
    total: int
    instruction: str
    line: str | None = None


class BuildResult(msgspec.Struct, frozen=True, kw_only=True):
    config: str
    image: str
    content_hash: str
    up_to_date: bool
    #: Older images of this config that were removed.
    pruned: list[str] = []
    duration_ms: int = 0


def build_context(home: Home, config: Config) -> BuildContext:
    """What ``config``'s image is made from, tagged in ``home``'s repository for it."""
    repository = image_repository(config.name, labels.home_label(home))
    return create_build_context(
        config, repository=repository, host_uid=os.getuid(), host_gid=os.getgid()
    )


#: The context reads every file the image is made from.
abuild_context = async_twin(build_context)


async def build_image(
    engine: Engine,
    home: Home,
    config: Config,
    *,
    rebuild: bool = False,
    use_cache: bool = True,
    progress: Callable[[BuildProgress], None] | None = None,
) -> BuildResult:
    """Build ``config``'s image in ``home`` unless an image of the same content
    exists (another home's is tagged into this home's repository: images are
    content, only tags are a home's).

    ``rebuild`` builds even then; ``use_cache=False`` also ignores the engine's layer cache.
    """
    started = time.monotonic()
    context = await abuild_context(home, config)
    if not rebuild and use_cache and await _find_built(engine, context, config.name):
        return BuildResult(
            config=config.name,
            image=context.tag,
            content_hash=context.content_hash,
            up_to_date=True,
        )

    await _ensure_base_image(engine, config.base_image)
    await _run_build(engine, context, config, use_cache, progress or (lambda _: None))
    await engine.tag_image(context.tag, context.repository, "latest")
    pruned = await prune_images(engine, context)
    return BuildResult(
        config=config.name,
        image=context.tag,
        content_hash=context.content_hash,
        up_to_date=False,
        pruned=pruned,
        duration_ms=round((time.monotonic() - started) * 1000),
    )


async def _find_built(engine: Engine, context: BuildContext, config_name: str) -> bool:
    """Whether an image of the context's content is here; tagged ``latest`` (and by its
    content, when another home built it) in the context's repository when it is.

    Another home's image is known by its tag, not its labels alone: an image built
    FROM a scad image inherits them."""
    image = await engine.image(context.tag)
    if image is None:
        built = re.compile(rf"scad-{re.escape(config_name)}-[0-9a-f]{{8}}:{context.content_hash}")
        same = f"{labels.HASH}={context.content_hash}"
        found = [
            i
            for i in await engine.labelled_images(same)
            if i.labels.get(labels.CONFIG) == config_name
        ]
        image = next((i for i in found if any(built.fullmatch(t) for t in i.tags)), None)
        if image is None:
            return False
        try:
            await engine.tag_image(image.id, context.repository, context.content_hash)
        except EngineError:  # removed since it was listed: built here instead
            return False
    await engine.tag_image(context.tag, context.repository, "latest")
    return True


async def _ensure_base_image(engine: Engine, base: str) -> None:
    """The engine would try to pull a missing base itself; try once, clearly."""
    if await engine.image(base) is not None:
        return
    try:
        with anyio.fail_after(PULL_TIMEOUT):
            await engine.pull(base)
    except (EngineError, TimeoutError) as exc:
        raise BaseImageMissing(base) from exc


async def _run_build(
    engine: Engine,
    context: BuildContext,
    config: Config,
    use_cache: bool,
    progress: Callable[[BuildProgress], None],
) -> None:
    step, total, instruction = 0, 0, ""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    #: The step's line saying it did not trust a certificate: apt says it long before
    #: the line that fails (an install that finds no package), beyond the tail.
    evidence: str | None = None
    image_labels = {labels.CONFIG: config.name, labels.HASH: context.content_hash}
    build = engine.open_build(
        context.tar(), tag=context.tag, labels=image_labels, use_cache=use_cache
    )
    async with build as lines:
        async for line in lines:
            if line.error:
                where = f"step {step}/{total} ({instruction})" if step else "before the first step"
                failed = f"build of {context.tag} failed at {where}"
                if evidence := untrusted_certificate(line.text) or evidence:
                    fix = await anyio.to_thread.run_sync(_trust_fix, config)
                    raise UntrustedCertificate(
                        f"{failed}: it did not trust a TLS certificate, as behind a proxy "
                        f"that intercepts TLS ({evidence}); {fix}",
                        evidence=evidence,
                        step=instruction,
                        output=tuple(tail),
                    )
                raise BuildFailed(f"{failed}: {line.text}", step=instruction, output=tuple(tail))
            if match := _STEP_RE.match(line.text):
                step, total, instruction = int(match[1]), int(match[2]), match[3]
                tail.clear()
                evidence = None
                progress(BuildProgress(step=step, total=total, instruction=instruction))
            elif line.text.strip():
                tail.append(line.text)
                evidence = untrusted_certificate(line.text) or evidence
                progress(
                    BuildProgress(step=step, total=total, instruction=instruction, line=line.text)
                )


def _trust_fix(config: Config) -> str:
    """What to add to the config: the host's extra CA certificates it does not list yet."""
    edit = f"scad config edit {config.name}"
    missing = [c for c in host_certificates() if c not in config.ca_certificates]
    if missing:
        return f"add this host's CA certificates to the config ({edit}): ca_certificates: [{', '.join(missing)}]"
    if config.ca_certificates:
        return (
            f"add the proxy's CA certificate (a PEM file) to the config's ca_certificates ({edit})"
        )
    return f"add the proxy's CA certificate (a PEM file) to the config ({edit}): ca_certificates: [PATH]"


async def prune_images(engine: Engine, context: BuildContext) -> list[str]:
    """Untag this config's older images in this home that no container uses (an
    image no home tags any more is removed with its last tag); returns the tags."""
    current = await engine.image(context.tag)
    in_use = {c.image_id for c in await engine.containers({})}
    removed = []
    for image in await engine.images(context.repository):
        if current is not None and image.id == current.id:
            continue
        if image.id in in_use:
            continue
        for tag in image.tags:
            if tag.startswith(f"{context.repository}:"):  # another home's tags are its own
                await engine.remove_image(tag)
                removed.append(tag)
    return removed
