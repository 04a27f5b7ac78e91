"""``--json [FIELDS]``: every command's JSON as one contract.

Each command that prints JSON names its :class:`Document`: the Struct it prints,
and (for the commands that list things) the field holding the list. Every
document, and every line of the JSON-lines commands, opens with ``"schema"``:
the version of these shapes, raised when a field is renamed or removed.
``--json`` prints everything; ``--json run_id,outcome`` only those fields (of
each listed item, as ``gh``'s list commands do), ``schema`` always.

The README's JSON reference is rendered from the same documents.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

import asyncclick as click
import msgspec

from ..errors import UsageError

__all__ = ["SCHEMA", "Document", "JsonCommand", "JsonOutput", "json_option"]

#: The version of every document's shape.
SCHEMA = 2

#: What ``--json`` holds when no fields follow it: every field.
_ALL = ""
_FIELD_LIST = re.compile(r"[a-z_][a-z0-9_]*(,[a-z_][a-z0-9_]*)*")


@dataclass(frozen=True)
class Document:
    """What a command prints with ``--json``: its ``shapes`` (each a Struct named
    ``module:Name``, imported only when asked for: a command with a second shape
    prints it under another option), and ``items``, the field whose list FIELDS
    select from."""

    shapes: tuple[str, ...]
    items: str | None = None
    #: One object per line (logs), each with these fields before the shape's.
    lines: tuple[str, ...] | None = None

    def types(self) -> list[Any]:
        return [_resolve(shape) for shape in self.shapes]

    def top_fields(self) -> list[str]:
        names = [*(self.lines or ()), *(n for t in self.types() for n in _field_names(t))]
        return [name for name in dict.fromkeys(names) if name != self.items]

    def item_fields(self) -> list[str]:
        if self.items is None:
            return []
        return _field_names(
            *(
                _list_item(f.type)
                for t in self.types()
                for f in _struct_fields(t)
                if f.encode_name == self.items
            )
        )

    def known(self) -> list[str]:
        """Every name FIELDS may hold, in the shapes' order, without repeats."""
        return list(dict.fromkeys([*self.top_fields(), *self.item_fields()]))


class JsonOutput:
    """How a command prints its document: every field, or the ones asked for."""

    def __init__(self, document: Document, fields: list[str] | None) -> None:
        self.document = document
        self.fields = fields

    def echo(self, value: Any) -> None:
        """Print ``value`` (the document's Struct) as indented JSON."""
        click.echo(self.text(value))

    def text(self, value: Any) -> str:
        """``value`` (the document's Struct) as indented JSON."""
        encoded = msgspec.json.encode(self.select(msgspec.to_builtins(value)))
        return msgspec.json.format(encoded, indent=2).decode()

    def line(self, first: dict[str, Any], body: bytes) -> bytes:
        """One line of a JSON-lines document: ``first``'s fields, then the JSON
        object ``body``'s (its bytes as they are, unless fields were asked for)."""
        if self.fields is None:
            opening = msgspec.json.encode({"schema": SCHEMA, **first})
            return opening[:-1] + (b"," + body[1:] if body != b"{}" else b"}")
        return msgspec.json.encode(self.select({**first, **msgspec.json.decode(body)}))

    def select(self, value: dict[str, Any]) -> dict[str, Any]:
        """``value`` with ``schema`` first and, when fields were asked for, only those."""
        if self.fields is None:
            return {"schema": SCHEMA, **value}
        wanted = set(self.fields)
        chosen: dict[str, Any] = {"schema": SCHEMA}
        chosen |= {k: v for k, v in value.items() if k in wanted and k != self.document.items}
        items = self.document.items
        if items is not None and wanted & set(self.document.item_fields()):
            chosen[items] = [
                {k: v for k, v in item.items() if k in wanted} for item in value.get(items, [])
            ]
        return chosen


def json_option(
    document: Document, help: str = "Print JSON (only FIELDS, comma-separated)."
) -> Any:
    """``--json [FIELDS]``, handing the command a :class:`JsonOutput` (None without
    ``--json``). Its command is a :class:`JsonCommand`, so a bare ``--json`` before
    an argument leaves the argument alone."""

    def to_output(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        if value == _ALL:
            return JsonOutput(document, None)
        fields = [name.strip() for name in value.split(",") if name.strip()]
        known = document.known()
        unknown = [name for name in fields if name not in known and name != "schema"]
        if unknown:
            raise UsageError(
                f"unknown JSON field {', '.join(unknown)}; known fields: {', '.join(known)}"
            )
        return JsonOutput(document, fields)

    def decorate(fn: Any) -> Any:
        fn.__scad_json__ = document
        return click.option(
            "--json",
            "as_json",
            metavar="[FIELDS]",
            callback=to_output,
            expose_value=True,
            help=help,
        )(fn)

    return decorate


class JsonCommand(click.Command):
    """A command with ``--json [FIELDS]``: the word after ``--json`` is its FIELDS
    only when it can be nothing else (a comma-separated list of the document's
    fields, or any word when the command takes no arguments); ``--json=FIELDS``
    always is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.json_document: Document | None = getattr(kwargs.get("callback"), "__scad_json__", None)

    async def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return await super().parse_args(ctx, self._bind_json(args))

    def _bind_json(self, args: list[str]) -> list[str]:
        bound: list[str] = []
        rest = list(args)
        while rest:
            arg = rest.pop(0)
            if arg == "--":
                bound += [arg, *rest]
                break
            if arg != "--json":
                bound.append(arg)
                continue
            if rest and self._is_fields(rest[0]):
                bound.append(f"--json={rest.pop(0)}")
            else:
                bound.append(f"--json={_ALL}")
        return bound

    def _is_fields(self, word: str) -> bool:
        if word.startswith("-"):
            return False
        if not any(isinstance(p, click.Argument) for p in self.params):
            return True  # nothing else could take it: an unknown field is said as such
        if self.json_document is None or not _FIELD_LIST.fullmatch(word):
            return False
        return "," in word or word in self.json_document.known()


def _struct_fields(shape: Any) -> tuple[msgspec.inspect.Field, ...]:
    info = msgspec.inspect.type_info(shape)
    if isinstance(info, msgspec.inspect.StructType):
        return info.fields
    if isinstance(info, msgspec.inspect.UnionType):
        return tuple(
            f for t in info.types if isinstance(t, msgspec.inspect.StructType) for f in t.fields
        )
    return ()


def _field_names(*shapes: Any) -> list[str]:
    """The names a shape's JSON holds: a tagged union's tag first."""
    names: list[str] = []
    for shape in shapes:
        info = msgspec.inspect.type_info(shape)
        members = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
        names += [
            m.tag_field
            for m in members
            if isinstance(m, msgspec.inspect.StructType) and m.tag_field
        ]
        names += [f.encode_name for f in _struct_fields(shape)]
    return list(dict.fromkeys(names))


def _resolve(shape: str) -> Any:
    module, name = shape.split(":")
    return getattr(importlib.import_module(module), name)


def _list_item(info: msgspec.inspect.Type) -> Any:
    """The Struct a list field (or an optional one) holds."""
    members = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
    for member in members:
        if isinstance(member, msgspec.inspect.ListType):
            item = member.item_type
            if isinstance(item, msgspec.inspect.StructType):
                return item.cls
    return None
