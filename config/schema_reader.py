"""Reading a schema's JSON tree: each value with its path, and the problems found so far,
so that one pass reports every problem, each naming its field and how to fix it."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, TypeVar

from config.schema_types import DerivedOp, FeatureType, Problem, ProblemType, SchemaError


def json_fix(text: str, error: json.JSONDecodeError) -> str:
    """How to repair the JSON syntax error at ``error.pos``, for the mistakes people make."""
    rest = text[error.pos :].lstrip()
    before = text[: error.pos].rstrip()
    if rest.startswith(("//", "/*", "#")):
        return 'JSON has no comments: delete it (notes belong in a "description" field)'
    if rest.startswith("'"):
        return "JSON strings and keys take double quotes"
    if before.endswith(",") and rest[:1] in ("}", "]"):
        return "delete the trailing comma"
    if error.msg.startswith("Expecting ',' delimiter"):
        return "add the missing comma between the two entries"
    return "correct the JSON syntax at that point (a missing comma, bracket or quote)"


def is_identifier(value: str) -> bool:
    """A column name as Parquet, the Glue catalog and the model's inputs take it:
    lower_snake_case, starting with a letter."""
    return (
        bool(value)
        and value.replace("_", "").isalnum()
        and value[0].isalpha()
        and (value == value.lower())
    )


def snake_case(header: str) -> str:
    """The lower_snake_case name for a header as files write it: ``Annual Income`` ->
    ``annual_income``, ``ClinLR`` -> ``clin_lr``, ``Culmen Length (mm)`` ->
    ``culmen_length_mm``, ``PID`` -> ``pid`` (camel-case humps split, then every run of
    other characters one underscore; a leading digit gets a ``c_`` in front)."""
    humps = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", header.strip())
    name = re.sub(r"[^0-9a-z]+", "_", humps.lower()).strip("_")
    return name if name[:1].isalpha() else f"c_{name}".rstrip("_")


_T = TypeVar("_T")
_E = TypeVar("_E", bound=Enum)

# What a required key holds, for the "add it" fix.
REQUIRED_HINTS = {
    "name": "a lower_snake_case name",
    "problem_type": f"one of {', '.join(p.value for p in ProblemType)}",
    "quality_gate": '{"metric": ..., "threshold": ...}',
    "target": '{"name": <the label column>}',
    "features": "[...] the model's input columns",
    "type": f"one of {', '.join(t.value for t in FeatureType)}",
    "op": f"one of {', '.join(o.value for o in DerivedOp)}",
    "inputs": "[...] the numeric features it is computed from",
    "metric": "the evaluation metric the gate compares",
    "threshold": "the value a new model must reach",
}


class Problems:
    """Collects problems so one pass reports all of them; each field is parsed on its own."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, path: str, message: str, fix: str) -> None:
        self.found.append(Problem(path, message, fix))

    def attempt(self, parse: Callable[[], _T]) -> _T | None:
        """``parse()``, or None with its problems recorded."""
        try:
            return parse()
        except SchemaError as error:
            self.found.extend(error.problems)
            return None


class Node:
    """A JSON value plus its path, so every problem names the field it is about."""

    def __init__(self, value: Any, path: str) -> None:
        self.value = value
        self.path = path

    def fail(self, message: str, fix: str) -> SchemaError:
        return SchemaError(Problem(self.path, message, fix))

    def mapping(self) -> Mapping[str, Any]:
        if not isinstance(self.value, Mapping):
            raise self.fail("must be an object", "write it as {...}")
        return self.value

    def child(self, key: str, *, required: bool = True, default: Any = None) -> Node:
        data = self.mapping()
        if key not in data:
            if required:
                hint = REQUIRED_HINTS.get(key, "")
                raise SchemaError(
                    Problem(f"{self.path}.{key}", "is required", f'add "{key}": {hint}'.strip())
                )
            return Node(default, f"{self.path}.{key}")
        return Node(data[key], f"{self.path}.{key}")

    def items(self) -> list[Node]:
        """List items; an object with a usable name is addressed by it, others by index."""
        if not isinstance(self.value, list):
            raise self.fail("must be a list", "write it as [...]")
        nodes = []
        for index, value in enumerate(self.value):
            name = value.get("name") if isinstance(value, Mapping) else None
            label = name if isinstance(name, str) and name.strip() else str(index)
            nodes.append(Node(value, f"{self.path}[{label}]"))
        return nodes

    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.fail("must be a non-empty string", 'write it in double quotes: "..."')
        return self.value

    def identifier(self) -> str:
        value = self.text()
        # Column names become Parquet, Glue catalog and CSV header names: keep them plain.
        if not is_identifier(value):
            suggestion = snake_case(value)
            raise self.fail(
                f"{value!r} must be lower_snake_case (letters, digits, _)",
                f"rename it to {suggestion!r}; the files keep their header: map it with "
                f'"raw_headers": {{"{suggestion}": {json.dumps(value)}}}',
            )
        return value

    def number(self) -> float | None:
        if self.value is None:
            return None
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self.fail("must be a number", f"write a bare number, not {self.value!r}")
        if not math.isfinite(self.value):
            raise self.fail("must be finite", "write a finite number")
        return float(self.value)

    def flag(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail("must be true or false", f"write true or false, not {self.value!r}")
        return self.value

    def enum(self, enum_type: type[_E]) -> _E:
        allowed = [str(member.value) for member in enum_type]
        if self.value not in allowed:
            close = difflib.get_close_matches(str(self.value), allowed, n=1)
            raise self.fail(
                f"{self.value!r} is not one of {allowed}",
                f"use {close[0]!r}" if close else f"use one of {', '.join(allowed)}",
            )
        return enum_type(self.value)

    def check_keys(self, allowed: tuple[str, ...], problems: Problems) -> None:
        """Record every key ``allowed`` does not name (a typo would be silently ignored)."""
        for key in self.mapping():
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            problems.add(
                f"{self.path}.{key}",
                "is not a known key",
                f'did you mean "{close[0]}"?'
                if close
                else f"remove it; the keys here are {', '.join(allowed)}",
            )
