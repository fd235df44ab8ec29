"""LOCAL STAND-IN for EventBridge event-pattern matching: moto delivers no rule target to
Lambda, so the local runtime decides, as EventBridge would, whether an event matches a
rule read from ``cdk.out``. The semantics are the EventBridge user guide's, cited in
docs/monitoring.md; tests/unit/test_event_patterns.py runs the guide's examples.
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from local.cdk_assembly import (
    StageAssembly,
    has_intrinsic,
    read_template,
    resources_of,
)

LABEL = "[local stand-in: EventBridge event-pattern matching]"

_ABSENT = object()
NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class PatternError(ValueError):
    """The pattern is not a valid EventBridge event pattern (or uses what we lack)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(pattern_value: Any, value: Any) -> bool:
    """Exact match: same JSON type and value (so 300 and 300.0 differ, true is not 1)."""
    return type(pattern_value) is type(value) and pattern_value == value


def _numeric(spec: Any, value: Any) -> bool:
    if not isinstance(spec, list) or not spec or len(spec) % 2:
        raise PatternError(f"numeric needs [operator, number, ...]: {spec!r}")
    if not _is_number(value):
        return False
    for op, bound in zip(spec[::2], spec[1::2], strict=True):
        if op not in NUMERIC_OPERATORS or not _is_number(bound):
            raise PatternError(f"numeric operator or bound not understood: {op!r} {bound!r}")
        if not NUMERIC_OPERATORS[op](value, bound):
            return False
    return True


def _anything_but(spec: Any, value: Any) -> bool:
    if value is _ABSENT:
        return False
    if isinstance(spec, dict):
        if set(spec) != {"prefix"}:
            raise PatternError(f"anything-but supports a value, a list or prefix: {spec!r}")
        return not (isinstance(value, str) and value.startswith(spec["prefix"]))
    excluded = spec if isinstance(spec, list) else [spec]
    return not any(_same(e, value) for e in excluded)


def _cidr(spec: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(spec, strict=False)
    except ValueError:
        return False


def _matches_one(matcher: Any, value: Any) -> bool:
    """One alternative of a leaf's array against one (scalar or absent) event value."""
    if not isinstance(matcher, dict):
        return value is not _ABSENT and _same(matcher, value)
    if len(matcher) != 1:
        raise PatternError(f"a content filter has exactly one key: {matcher!r}")
    [(kind, spec)] = matcher.items()
    if kind == "exists":
        if not isinstance(spec, bool):
            raise PatternError(f"exists takes true or false: {spec!r}")
        return (value is not _ABSENT) is spec
    if kind == "anything-but":
        return _anything_but(spec, value)
    if value is _ABSENT:
        return False
    if kind == "prefix":
        return isinstance(value, str) and value.startswith(spec)
    if kind == "suffix":
        return isinstance(value, str) and value.endswith(spec)
    if kind == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(spec).casefold()
    if kind == "numeric":
        return _numeric(spec, value)
    if kind == "cidr":
        return _cidr(spec, value)
    raise PatternError(f"content filter {kind!r} is not supported by the local matcher")


def _leaf_matches(alternatives: list[Any], value: Any) -> bool:
    # An object where the pattern expects a leaf does not exist as a leaf ("exists" on
    # an intermediate node), and an array matches when any element matches.
    if isinstance(value, dict):
        value = _ABSENT
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        values = [_ABSENT]
    return any(_matches_one(m, v) for m in alternatives for v in values)


def _object_matches(pattern: dict[str, Any], event: Any) -> bool:
    for key, expected in pattern.items():
        value = event.get(key, _ABSENT) if isinstance(event, dict) else _ABSENT
        if isinstance(expected, dict):
            if not _object_matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not expected:
                raise PatternError(f"field {key!r} has an empty array of values")
            if not _leaf_matches(expected, value):
                return False
        else:
            raise PatternError(
                f"field {key!r}: pattern values are arrays or objects, not {expected!r}"
            )
    return True


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether EventBridge would deliver ``event`` to a rule with ``pattern``."""
    if not isinstance(pattern, dict) or not pattern:
        raise PatternError("an event pattern is a non-empty JSON object")
    return _object_matches(pattern, event)


def rule_patterns(templates: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """``AWS::Events::Rule`` event patterns in synthesized templates, by logical id.

    A pattern holding a CloudFormation intrinsic (a value only known at deploy time)
    cannot be matched here: that is an error naming the rule (``stage_rule_patterns``
    resolves references across a stage's stacks).
    """
    patterns: dict[str, dict[str, Any]] = {}
    for template in templates:
        rules = resources_of(read_template(template), "AWS::Events::Rule")
        for logical_id, resource in rules.items():
            pattern = resource.get("Properties", {}).get("EventPattern")
            if pattern is None:
                continue  # a scheduled rule
            if has_intrinsic(pattern):
                raise PatternError(
                    f"rule {logical_id} in {template.name} has a deploy-time value in its "
                    "EventPattern; the local matcher needs literal patterns"
                )
            patterns[logical_id] = pattern
    return patterns


def stage_rule_patterns(assembly: StageAssembly, fragment: str = "") -> dict[str, dict[str, Any]]:
    """The event patterns of the rules in ``assembly``'s stacks whose name contains
    ``fragment``, with references resolved to the assembly's local names (a Glue job's
    name from the DataLake stack is its logical id), by logical id."""
    patterns: dict[str, dict[str, Any]] = {}
    for stack in assembly.stacks(fragment):
        for logical_id, resource in assembly.resources(stack, "AWS::Events::Rule").items():
            pattern = resource.get("Properties", {}).get("EventPattern")
            if pattern is not None:
                patterns[logical_id] = assembly.resolve(pattern, stack)
    return patterns


def matching_rules(event: dict[str, Any], patterns: dict[str, dict[str, Any]]) -> list[str]:
    """Logical ids of the rules whose pattern ``event`` matches."""
    return [rule for rule, pattern in patterns.items() if matches(pattern, event)]
