"""git's smart HTTP, the parts the gateway reads itself: pkt-lines, and the ref
updates a push asks for.

A push's request body opens with its commands (``<old> <new> <ref>``, the first with
its capabilities after a NUL), one pkt-line each, ended by a flush packet; its pack
follows. The gateway reads the commands before git sees any of it, and refuses a push
that would write anything but a branch, delete one, or write too many. Pure: bytes in,
a verdict out.
"""

from __future__ import annotations

import re
from typing import BinaryIO

import msgspec

from ..code.snapshot import valid_branch

__all__ = ["PushCommand", "advertisement", "read_commands", "refused_push"]

_ZERO = "0" * 40
_OID = re.compile(r"[0-9a-f]{40}")
#: A pkt-line's payload is at most this long (git's own bound).
_MAX_PKT = 65516


class PushCommand(msgspec.Struct, frozen=True):
    old: str
    new: str
    ref: str


class WireError(ValueError):
    """The request is not a push git's client would send."""


def advertisement(service: str) -> bytes:
    """What smart HTTP puts before git's own ref advertisement."""
    return pkt_line(f"# service={service}\n".encode()) + b"0000"


def pkt_line(payload: bytes) -> bytes:
    return f"{len(payload) + 4:04x}".encode() + payload


def read_commands(body: BinaryIO, *, limit: int) -> list[PushCommand]:
    """The ref updates at the start of a push's ``body`` (left just past them);
    raises WireError for anything else, or for more than ``limit`` of them."""
    commands: list[PushCommand] = []
    while True:
        head = body.read(4)
        if len(head) != 4 or not re.fullmatch(rb"[0-9a-f]{4}", head):
            raise WireError("the push does not start with pkt-lines")
        size = int(head, 16)
        if size == 0:
            return commands
        if size < 5 or size - 4 > _MAX_PKT:
            raise WireError("a pkt-line of the push has a length git never sends")
        payload = body.read(size - 4)
        if len(payload) != size - 4:
            raise WireError("the push ends inside a pkt-line")
        if len(commands) >= limit:
            raise WireError(f"the push updates more than {limit} refs")
        commands.append(_command(payload))


def _command(payload: bytes) -> PushCommand:
    line = payload.split(b"\0", 1)[0].removesuffix(b"\n")
    try:
        old, new, ref = line.decode().split(" ", 2)
    except (UnicodeDecodeError, ValueError):
        raise WireError("a command of the push is not '<old> <new> <ref>'") from None
    if not (_OID.fullmatch(old) and _OID.fullmatch(new)):
        raise WireError("a command of the push does not name two object ids")
    return PushCommand(old=old, new=new, ref=ref)


def refused_push(commands: list[PushCommand], held: int, limit: int) -> str | None:
    """Why the push must not be let through; None when it may. ``held``: how many
    branches the store holds now, of at most ``limit``."""
    for command in commands:
        name = command.ref.removeprefix("refs/heads/")
        if not command.ref.startswith("refs/heads/") or not valid_branch(name):
            return f"{command.ref!r} is not a branch name git accepts; only branches are taken"
        if command.new == _ZERO:
            return f"{command.ref} would be deleted; a run's branches are never deleted"
    created = sum(1 for command in commands if command.old == _ZERO)
    if held + created > limit:
        return f"the store would hold more than {limit} branches"
    return None
