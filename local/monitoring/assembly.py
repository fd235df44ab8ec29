"""What the Monitoring stack synthesized, with the caller's local names filled in: the
Lambda functions' environments (the monitor launcher's holds the monitor job's
CreateProcessingJob request), the schedule's name, and the stack's file assets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.cdk_assembly import (
    AssemblyError,
    StageAssembly,
    by_name,
    read_template,
    resources_of,
    template_assets,
)
from local.cdk_assembly import resolve as resolve_intrinsics


def monitoring_template(cdk_out: Path, stage: str) -> Path:
    """The stage's Monitoring template in the cloud assembly."""
    assembly = StageAssembly(cdk_out, stage)
    return assembly.paths[assembly.stack("Monitoring")]


def _properties(template: Path, kind: str) -> dict[str, dict[str, Any]]:
    resources = resources_of(read_template(template), kind)
    return {lid: resource["Properties"] for lid, resource in resources.items()}


def resolve(value: Any, supplied: Callable[[str], str | None]) -> str:
    """``value`` with each reference (an export, ``logical id``, ``logical id.Attr``) taken
    from ``supplied``; one it has no value for is an error naming it."""
    return str(resolve_intrinsics(value, by_name(supplied)))


def schedule_name(template: Path) -> str:
    """The name of the stack's one schedule (the monitor's)."""
    schedules = _properties(template, "AWS::Scheduler::Schedule")
    if len(schedules) != 1:
        raise AssemblyError(f"expected one schedule in {template.name}, found {len(schedules)}")
    [schedule] = schedules.values()
    return str(schedule["Name"])


def function_environment(
    template: Path, supplied: Callable[[str], str | None], *, name_prefix: str = "Retrain"
) -> dict[str, str]:
    """The environment variables of the stack's Lambda function whose logical id starts with
    ``name_prefix``."""
    functions = {
        lid: p
        for lid, p in _properties(template, "AWS::Lambda::Function").items()
        if lid.startswith(name_prefix)
    }
    if len(functions) != 1:
        raise AssemblyError(f"expected one {name_prefix}* function in {template.name}")
    [function] = functions.values()
    variables = function.get("Environment", {}).get("Variables", {})
    return {name: resolve(value, supplied) for name, value in variables.items()}


def stack_assets(template: Path) -> dict[tuple[str, str], Path]:
    """(bucket, key) -> file in cdk.out, for the template's file assets."""
    return template_assets(template)
