"""Which files a check sees: the judged commit's tree with pinned paths taken from
the base commit's. Pure: trees come in as ``git ls-tree -r -l -z`` listings."""

from __future__ import annotations

from pathlib import PurePosixPath

import msgspec

__all__ = ["TreeEntry", "changed_pins", "parse_tree", "pin_key", "pinned_tree", "under"]


class TreeEntry(msgspec.Struct, frozen=True):
    mode: str
    kind: str
    oid: str
    #: Bytes; 0 for what is not a blob.
    size: int
    path: str


def parse_tree(listing: bytes) -> list[TreeEntry]:
    """The entries of ``git ls-tree -r -l -z --full-tree`` output."""
    entries = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        head, _, path = record.partition(b"\t")
        mode, kind, oid, size = head.decode().split()
        entries.append(
            TreeEntry(
                mode,
                kind,
                oid,
                int(size) if size.isdigit() else 0,
                path.decode("utf-8", "surrogateescape"),
            )
        )
    return entries


def pin_key(pin: str) -> str:
    """A pin as a path in the tree: ``tests/``, ``./tests`` and ``tests`` are one."""
    return "/".join(PurePosixPath(pin).parts)


def under(path: str, pin: str) -> bool:
    """Whether the tree's ``path`` is the pinned path or inside it."""
    key = pin_key(pin)
    return path == key or path.startswith(f"{key}/")


def _pinned(path: str, pins: list[str]) -> bool:
    return any(under(path, pin) for pin in pins)


def pinned_tree(judged: list[TreeEntry], base: list[TreeEntry], pins: list[str]) -> list[TreeEntry]:
    """``judged`` with everything at or under a pin replaced by ``base``'s (removed
    where the base has none)."""
    kept = [entry for entry in judged if not _pinned(entry.path, pins)]
    return sorted(kept + [e for e in base if _pinned(e.path, pins)], key=lambda e: e.path)


def changed_pins(judged: list[TreeEntry], base: list[TreeEntry], pins: list[str]) -> list[str]:
    """The pins whose files differ between the two trees, in the pins' order."""

    def files(tree: list[TreeEntry], pin: str) -> set[tuple[str, str, str]]:
        return {(e.path, e.mode, e.oid) for e in tree if under(e.path, pin)}

    return [pin for pin in pins if files(judged, pin) != files(base, pin)]
