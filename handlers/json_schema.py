"""JSON Schema (2020-12, as OpenAPI 3.1 uses it) for the Python types operations declare.

| Python | JSON Schema |
| --- | --- |
| `str`, `int`, `float`, `bool`, `None` | `string`, `integer`, `number`, `boolean`, `null` |
| `Any`, `object` | `{}` (anything) |
| `X \\| None`, `Optional[X]`, `Union[...]` | `anyOf`, or a list of types when every member is a plain type |
| `Literal["a", 1]` | `enum` |
| `list[X]`, `Sequence[X]`, `set[X]`, `tuple[X, ...]` | `array` of X; `tuple[X, Y]` has `prefixItems` |
| `dict[str, X]`, `Mapping[str, X]` | `object` with `additionalProperties` X |
| a `TypedDict` | a named component (`$ref`), its required keys from `total=` / `Required` / `NotRequired` |
| a dataclass | a named component, fields without defaults required |
| an `Enum` | `enum` of its values |
| `Annotated[X, ...]` | X |
| a `dict` | taken as a JSON Schema already; Python types inside it are converted |

Named types land in `Components.schemas` under their class name; two different types with the
same name are told apart by their module's name (`module_Name`).
"""
from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

REF_PREFIX = "#/components/schemas/"

_PLAIN: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_ARRAYS = (list, set, frozenset, Sequence, typing.Sequence, typing.List, typing.Set, typing.FrozenSet)
_OBJECTS = (dict, Mapping, typing.Mapping, typing.Dict)


class Components:
    """The named schemas gathered while converting types."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}
        self._names: dict[Any, str] = {}

    def schema_of(self, tp: Any) -> dict[str, Any]:
        """The schema of a type; named types become `$ref`s to `self.schemas`."""
        if isinstance(tp, dict):
            return {key: self._within_schema(value) for key, value in tp.items()}
        if tp is Any or tp is object:
            return {}
        if tp is None or tp is type(None):
            return {"type": "null"}
        if tp in _PLAIN:
            return {"type": _PLAIN[tp]}
        origin, args = get_origin(tp), get_args(tp)
        if origin is typing.Annotated:
            return self.schema_of(args[0])
        if origin is Literal:
            return _literal(args)
        if origin is Union or origin is types.UnionType:
            return self._union(args)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.schema_of(args[0])}
            return {"type": "array", "prefixItems": [self.schema_of(a) for a in args], "items": False}
        if origin in _ARRAYS or tp in _ARRAYS:
            return {"type": "array", "items": self.schema_of(args[0]) if args else {}}
        if origin in _OBJECTS or tp in _OBJECTS:
            return {"type": "object", "additionalProperties": self.schema_of(args[1]) if args else {}}
        if is_typeddict(tp) or dataclasses.is_dataclass(tp) or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
            return {"$ref": REF_PREFIX + self._named(tp)}
        raise TypeError(f"no JSON schema for {tp!r}")

    def _within_schema(self, value: Any) -> Any:
        """A value inside a hand-written schema: Python types there are converted too."""
        if isinstance(value, dict):
            return {key: self._within_schema(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._within_schema(item) for item in value]
        if isinstance(value, type) or get_origin(value) is not None or value is Any:
            return self.schema_of(value)
        return value

    def _union(self, members: tuple[Any, ...]) -> dict[str, Any]:
        schemas = [self.schema_of(member) for member in members]
        if all(set(schema) == {"type"} and isinstance(schema["type"], str) for schema in schemas):
            return {"type": [schema["type"] for schema in schemas]}
        return {"anyOf": schemas}

    def _named(self, tp: type) -> str:
        if tp in self._names:
            return self._names[tp]
        name = tp.__name__
        if name in self.schemas:  # another type already holds the plain name
            name = f"{tp.__module__.rsplit('.', 1)[-1]}_{name}"
        self._names[tp] = name
        self.schemas[name] = {}  # reserved first, so a type that refers to itself ends
        self.schemas[name] = self._describe(tp)
        return name

    def _describe(self, tp: type) -> dict[str, Any]:
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _literal(tuple(member.value for member in tp))
        hints = get_type_hints(tp, globalns=vars(sys.modules[tp.__module__]), include_extras=True)
        if is_typeddict(tp):
            # Read off the hints, not `__required_keys__`: with postponed annotations (PEP 563) the
            # class cannot see NotRequired[...] when it is created, so that set would be wrong.
            required = [key for key, hint in hints.items()
                        if get_origin(hint) is typing.Required
                        or (get_origin(hint) is not typing.NotRequired and tp.__total__)]  # type: ignore[attr-defined]
            hints = {key: get_args(hint)[0] if get_origin(hint) in (typing.Required, typing.NotRequired) else hint
                     for key, hint in hints.items()}
        else:
            required = [f.name for f in dataclasses.fields(tp)
                        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        schema: dict[str, Any] = {"type": "object",
                                  "properties": {key: self.schema_of(hint) for key, hint in hints.items()}}
        if required:
            schema["required"] = required
        doc = (tp.__doc__ or "").strip()
        if doc and not doc.startswith(f"{tp.__name__}("):  # not the dataclass's generated signature
            schema["description"] = doc
        return schema


def _literal(values: tuple[Any, ...]) -> dict[str, Any]:
    kinds = sorted({_PLAIN[type(value)] for value in values})
    return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": list(values)}


def from_example(value: Any) -> dict[str, Any]:
    """A schema that a JSON value of this shape satisfies: what an error body looks like, read off
    the body a dialect really renders. A null says nothing about the type, so it allows anything."""
    if isinstance(value, dict):
        schema: dict[str, Any] = {"type": "object",
                                  "properties": {key: from_example(item) for key, item in value.items()}}
        if value:
            schema["required"] = list(value)
        return schema
    if isinstance(value, list):
        return {"type": "array", "items": from_example(value[0]) if value else {}}
    if value is None:
        return {}
    return {"type": _PLAIN[type(value)]}
