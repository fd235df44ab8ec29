"""What the Monitoring stack synthesized, read from ``cdk.out`` with local names filled in.

The stack's Lambda functions' environments (the retrain trigger's; the monitor
launcher's, which holds the monitor job's CreateProcessingJob request), the monitor
schedule's name, and the stack's file assets (the source bundle the job downloads).
CloudFormation would resolve the deploy-time values (``Fn::ImportValue`` of the data
lake's exports, ``Fn::GetAtt``/``Ref`` of the stack's own resources); here the caller
supplies them, and one nobody supplies is an error naming it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.cdk_assembly import AssemblyError, file_assets, stage_assembly


def monitoring_template(cdk_out: Path, stage: str) -> Path:
    """The stage's Monitoring template in the cloud assembly."""
    found = sorted(stage_assembly(cdk_out, stage).glob("*Monitoring*.template.json"))
    if not found:
        raise AssemblyError(f"no Monitoring template in the {stage} stage of {cdk_out}")
    return found[0]


def _resources(template: Path, kind: str) -> dict[str, dict[str, Any]]:
    resources = json.loads(template.read_text())["Resources"]
    return {lid: r["Properties"] for lid, r in resources.items() if r["Type"] == kind}


def resolve(value: Any, supplied: Callable[[str], str | None]) -> str:
    """A string, or an intrinsic whose name (export, ``logical id``, ``logical id.Attr``)
    ``supplied`` gives a local value for; ``Fn::Join`` is joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        [(function, argument)] = value.items()
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(resolve(part, supplied) for part in parts)
        name: str | None = None
        if function in ("Ref", "Fn::ImportValue") and isinstance(argument, str):
            name = argument
        elif function == "Fn::GetAtt" and isinstance(argument, list):
            name = ".".join(str(part) for part in argument)
        if name is not None:
            local = supplied(name)
            if local is None:
                raise AssemblyError(f"{function} {name} has no local value")
            return local
    raise AssemblyError(f"cannot resolve {json.dumps(value)} locally")


def schedule_name(template: Path) -> str:
    """The name of the stack's one schedule (the monitor's)."""
    schedules = _resources(template, "AWS::Scheduler::Schedule")
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
        for lid, p in _resources(template, "AWS::Lambda::Function").items()
        if lid.startswith(name_prefix)
    }
    if len(functions) != 1:
        raise AssemblyError(f"expected one {name_prefix}* function in {template.name}")
    [function] = functions.values()
    variables = function.get("Environment", {}).get("Variables", {})
    return {name: resolve(value, supplied) for name, value in variables.items()}


def stack_assets(template: Path) -> dict[tuple[str, str], Path]:
    """(bucket, key) -> file in cdk.out, for the template's file assets."""
    manifest = template.with_name(template.name[: -len(".template.json")] + ".assets.json")
    return file_assets(manifest)
