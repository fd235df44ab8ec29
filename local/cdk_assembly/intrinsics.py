"""CloudFormation's intrinsic functions, resolved locally: the one resolver for cdk.out.

The structural functions (``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::Sub``) are
evaluated here; a reference (``Ref``, ``Fn::GetAtt``, ``Fn::ImportValue``,
``Fn::GetStackOutput``) gets whatever the caller's lookup gives for it. Strict, a
reference without a local value is an error naming it; lenient, it stays in the text as
a token (``<cfn:...>``) a consumer can match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any


class AssemblyError(RuntimeError):
    """The cloud assembly lacks what the local runtime needs, or cannot be resolved."""


Lookup = Callable[[str, str], Any]
"""``(function, name) -> local value or None`` for ``Ref name``, ``Fn::ImportValue name``,
``Fn::GetAtt`` (named ``"LogicalId.Attribute"``, as ``Fn::Sub`` writes it) and
``Fn::GetStackOutput`` (named ``"StackName.OutputName"``; CDK writes it for references
between the stacks of one stage)."""

REFERENCES = ("Ref", "Fn::GetAtt", "Fn::ImportValue", "Fn::GetStackOutput")
TOKEN = re.compile(r"^<cfn:[^>]*>$")
# ${Name}, ${LogicalId.Attribute}, and ${!Literal} (written out as ${Literal}).
SUB_PLACEHOLDER = re.compile(r"\$\{(!?)([^}]+)\}")


def no_values(function: str, name: str) -> None:
    """The lookup that knows no local value."""
    return None


def by_name(supplied: Callable[[str], Any]) -> Lookup:
    """A lookup that asks ``supplied`` for the reference's name, whatever its function."""
    return lambda function, name: supplied(name)


def token(value: Any) -> str:
    """An unresolved intrinsic as text without double quotes, so it can sit in JSON text."""
    return "<cfn:" + json.dumps(value, sort_keys=True).replace('"', "'") + ">"


def is_intrinsic(value: Any) -> bool:
    """Whether ``value`` is a one-key ``{"Ref" | "Fn::...": argument}``."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    [function] = value
    return bool(function == "Ref" or str(function).startswith("Fn::"))


def has_intrinsic(value: Any) -> bool:
    """Whether an intrinsic (a value only known at deploy time) is anywhere in ``value``."""
    if isinstance(value, dict):
        return is_intrinsic(value) or any(has_intrinsic(v) for v in value.values())
    if isinstance(value, list):
        return any(has_intrinsic(v) for v in value)
    return False


def resolve(value: Any, lookup: Lookup = no_values, *, lenient: bool = False) -> Any:
    """``value`` with every intrinsic resolved (lists and mappings recursed).

    Lenient, what cannot be resolved becomes a token: a reference or an unknown function
    on its own, an ``Fn::Select``/``Fn::Split`` as a whole; ``Fn::Join`` and ``Fn::Sub``
    keep their resolvable text around the tokens.
    """
    if isinstance(value, list):
        return [resolve(item, lookup, lenient=lenient) for item in value]
    if not isinstance(value, dict):
        return value
    if not is_intrinsic(value):
        return {key: resolve(item, lookup, lenient=lenient) for key, item in value.items()}
    try:
        return _evaluate(value, lookup, lenient)
    except AssemblyError:
        if lenient:
            return token(value)
        raise


def _evaluate(value: dict[str, Any], lookup: Lookup, lenient: bool) -> Any:
    [(function, argument)] = value.items()
    if function in REFERENCES:
        return _reference(function, _reference_name(function, argument, lookup), lookup)
    if function == "Fn::Join":
        separator, parts = argument
        return str(separator).join(str(resolve(part, lookup, lenient=lenient)) for part in parts)
    if function == "Fn::Select":
        index, items = argument
        return resolve(items, lookup)[int(resolve(index, lookup))]
    if function == "Fn::Split":
        separator, text = argument
        return str(resolve(text, lookup)).split(separator)
    if function == "Fn::Sub":
        return _substitute(argument, lookup, lenient)
    raise AssemblyError(f"cannot resolve {json.dumps(value)[:200]} locally")


def _reference_name(function: str, argument: Any, lookup: Lookup) -> str:
    if function == "Fn::GetStackOutput":
        return f"{argument['StackName']}.{argument['OutputName']}"
    if function == "Fn::GetAtt":
        if isinstance(argument, list):
            logical_id, attribute = argument
            return f"{logical_id}.{resolve(attribute, lookup)}"
        return str(argument)
    return argument if isinstance(argument, str) else str(resolve(argument, lookup))


def _reference(function: str, name: str, lookup: Lookup) -> Any:
    local = lookup(function, name)
    if local is None:
        raise AssemblyError(f"{function} {name} has no local value")
    return local


def _substitute(argument: Any, lookup: Lookup, lenient: bool) -> str:
    body, variables = (argument, {}) if isinstance(argument, str) else argument
    values = {name: resolve(v, lookup, lenient=lenient) for name, v in variables.items()}

    def placeholder(match: re.Match[str]) -> str:
        literal, name = match.groups()
        if literal:
            return "${" + name + "}"
        if name in values:
            return str(values[name])
        reference = {"Fn::GetAtt": name} if "." in name else {"Ref": name}
        return str(resolve(reference, lookup, lenient=lenient))

    return SUB_PLACEHOLDER.sub(placeholder, str(body))
