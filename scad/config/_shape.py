"""A config's YAML, walked against the Structs' annotations before it is converted,
so that each error names its exact field: an unknown one gets a "did you mean",
a missing one what it is, a wrong value what was expected (a number where a
string belongs: "put it in quotes").
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Literal

import msgspec

from ..errors import ConfigError

__all__ = ["check_shape"]


def check_shape(value: Any, annotation: Any, label: str) -> None:
    """Raise :class:`ConfigError` (of file ``label``) at the first field of ``value``
    (decoded YAML) that does not fit ``annotation`` (a Struct, usually)."""
    _check(value, annotation, "", label)


def _field_types(cls: type[msgspec.Struct]) -> dict[str, tuple[Any, bool]]:
    hints = typing.get_type_hints(cls)
    return {f.encode_name: (hints[f.name], f.required) for f in msgspec.structs.fields(cls)}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else type(value).__name__


#: Fields that moved, where a config written before still has them.
MOVED = {"swarm.gateway_address": "gateway_address"}


def _check(value: Any, annotation: Any, path: str, label: str) -> None:
    """Walk ``value`` against ``annotation`` so each error names its exact field."""
    origin = typing.get_origin(annotation)
    where = path or "(top level)"
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        if not isinstance(value, dict):
            raise ConfigError(label, f"expected a mapping, got {_describe(value)}", field=where)
        fields = _field_types(annotation)
        for key in value:
            if key not in fields:
                hint = difflib.get_close_matches(str(key), list(fields), n=1)
                fix = f'did you mean "{hint[0]}"?' if hint else f"known: {', '.join(fields)}"
                if moved := MOVED.get(_join(path, key)):
                    fix = f'it moved: write it as the top-level "{moved}"'
                raise ConfigError(label, f"unknown field; {fix}", field=_join(path, key))
        for key, (field_type, required) in fields.items():
            if key in value:
                _check(value[key], field_type, _join(path, key), label)
            elif required:
                raise ConfigError(label, f'missing required field "{key}"', field=where)
    elif origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(label, f"expected a mapping, got {_describe(value)}", field=where)
        _, item_type = typing.get_args(annotation)
        for key, item in value.items():
            _check(item, item_type, _join(path, str(key)), label)
    elif origin is list:
        if not isinstance(value, list):
            raise ConfigError(label, f"expected a list, got {_describe(value)}", field=where)
        (item_type,) = typing.get_args(annotation)
        for index, item in enumerate(value):
            _check(item, item_type, f"{path}[{index}]", label)
    elif origin in (typing.Union, types.UnionType) and value is None:
        return
    else:
        _check_leaf(value, annotation, where, label)


def _check_leaf(value: Any, annotation: Any, where: str, label: str) -> None:
    try:
        msgspec.convert(value, annotation)
    except msgspec.ValidationError:
        if typing.get_origin(annotation) is Literal:
            choices = ", ".join(typing.get_args(annotation))
            problem = f"{value!r} is not one of: {choices}"
        elif (
            str in _leaf_types(annotation)
            and int not in _leaf_types(annotation)
            and isinstance(value, int | float)
        ):
            problem = "expected a string, got a number; put it in quotes"
        else:
            expected = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in _leaf_types(annotation))
            problem = f"expected {expected}, got {_describe(value)}"
        raise ConfigError(label, problem, field=where) from None


_TYPE_WORDS = {str: "a string", bool: "true or false", int: "a whole number", float: "a number"}


def _leaf_types(annotation: Any) -> list[type]:
    args = typing.get_args(annotation) if typing.get_origin(annotation) else (annotation,)
    return [a for a in args if a is not type(None)]


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)
