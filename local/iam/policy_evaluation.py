"""LOCAL stand-in for IAM's identity-policy evaluation (no AWS call decides here).

It follows the IAM User Guide's evaluation logic and condition operators (docs/security.md
lists what is modelled); anything else (an unknown operator, a policy variable) is an
error, never a silent match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LABEL = "[local stand-in: IAM policy evaluation]"
ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"


class PolicyError(ValueError):
    """A policy uses something this evaluator does not model."""


@dataclass(frozen=True)
class Request:
    """One authorization request: ``service:Action``, resource ARN and context keys."""

    action: str
    resource: str
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def values(self, key: str) -> list[str] | None:
        """The request's values of context key ``key`` (names are case-insensitive)."""
        for name, values in self.context.items():
            if name.lower() == key.lower():
                return [str(v) for v in values]
        return None


@dataclass(frozen=True)
class Decision:
    """The outcome and the statements (``Sid`` or position) that decided it."""

    effect: str
    statements: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.effect == ALLOW


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    if "${" in pattern:
        raise PolicyError(f"policy variables are not modelled: {pattern!r}")
    # fnmatch would also treat [...] as a class; IAM knows only * and ?.
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(expression, value, flags) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated fields matched on its own."""
    wanted, actual = pattern.split(":", 5), value.split(":", 5)
    return len(wanted) == len(actual) == 6 and all(
        _glob(w, a) for w, a in zip(wanted, actual, strict=True)
    )


def _number(text: str) -> float:
    return float(text)


# Base operator -> (does one request value match one policy value?, negated?)
_OPERATORS: dict[str, tuple[Any, bool]] = {
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), True),
    "StringLike": (lambda v, p: _glob(p, v), False),
    "StringNotLike": (lambda v, p: _glob(p, v), True),
    "ArnEquals": (lambda v, p: v == p, False),
    "ArnNotEquals": (lambda v, p: v == p, True),
    "ArnLike": (lambda v, p: _arn_like(p, v), False),
    "ArnNotLike": (lambda v, p: _arn_like(p, v), True),
    "Bool": (lambda v, p: v.lower() == p.lower(), False),
    "NumericEquals": (lambda v, p: _number(v) == _number(p), False),
    "NumericNotEquals": (lambda v, p: _number(v) == _number(p), True),
    "NumericLessThan": (lambda v, p: _number(v) < _number(p), False),
    "NumericLessThanEquals": (lambda v, p: _number(v) <= _number(p), False),
    "NumericGreaterThan": (lambda v, p: _number(v) > _number(p), False),
    "NumericGreaterThanEquals": (lambda v, p: _number(v) >= _number(p), False),
}


def _condition_holds(operator: str, key: str, wanted: list[str], request: Request) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    actual = request.values(key)
    if base == "Null":
        absent = actual is None or actual == []
        return any((w.lower() == "true") == absent for w in wanted)
    if base not in _OPERATORS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise PolicyError(f"condition operator {operator!r} is not modelled")
    matches, negated = _OPERATORS[base]

    def one(value: str) -> bool:
        hit = any(matches(value, w) for w in wanted)
        return not hit if negated else hit

    if actual is None or actual == []:
        if if_exists or qualifier == "ForAllValues":
            return True
        return negated
    if qualifier == "ForAllValues":
        return all(one(v) for v in actual)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in actual)
    # A single-valued key: a negated operator holds when no value matches (NOR).
    return all(one(v) for v in actual) if negated else any(one(v) for v in actual)


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "Action" in statement:
        action_ok = any(
            _glob(a, request.action, ignore_case=True) for a in _listed(statement["Action"])
        )
    elif "NotAction" in statement:
        action_ok = not any(
            _glob(a, request.action, ignore_case=True) for a in _listed(statement["NotAction"])
        )
    else:
        raise PolicyError("statement has neither Action nor NotAction")
    if not action_ok:
        return False
    if "Resource" in statement:
        resource_ok = any(_glob(r, request.resource) for r in _listed(statement["Resource"]))
    elif "NotResource" in statement:
        resource_ok = not any(_glob(r, request.resource) for r in _listed(statement["NotResource"]))
    else:
        raise PolicyError("identity-policy statement has neither Resource nor NotResource")
    if not resource_ok:
        return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(operator, key, _listed(wanted), request):
                return False
    return True


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = policy["Statement"]
    return [found] if isinstance(found, Mapping) else list(found)


def evaluate(policies: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    """IAM's decision for ``request`` under the identity ``policies`` (documents)."""
    allowed_by: list[str] = []
    denied_by: list[str] = []
    for number, policy in enumerate(policies):
        for position, statement in enumerate(_statements(policy)):
            if not _applies(statement, request):
                continue
            name = str(statement.get("Sid") or f"policy {number} statement {position}")
            effect = statement.get("Effect")
            if effect == "Deny":
                denied_by.append(name)
            elif effect == "Allow":
                allowed_by.append(name)
            else:
                raise PolicyError(f"statement {name}: Effect {effect!r}")
    if denied_by:
        return Decision(EXPLICIT_DENY, tuple(denied_by))
    if allowed_by:
        return Decision(ALLOW, tuple(allowed_by))
    return Decision(IMPLICIT_DENY)


def granted_actions(policies: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(Sid, action) of every Allow statement's ``Action`` entries, in order."""
    granted = []
    for number, policy in enumerate(policies):
        for position, statement in enumerate(_statements(policy)):
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement:
                raise PolicyError("NotAction in an Allow grants too much to list")
            name = str(statement.get("Sid") or f"policy {number} statement {position}")
            granted += [(name, a) for a in _listed(statement["Action"])]
    return granted


def action_matches(pattern: str, action: str) -> bool:
    """Whether a policy's action ``pattern`` covers ``action`` (case-insensitive)."""
    return _glob(pattern, action, ignore_case=True)


__all__ = [
    "ALLOW",
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "LABEL",
    "Decision",
    "PolicyError",
    "Request",
    "action_matches",
    "evaluate",
    "granted_actions",
]
