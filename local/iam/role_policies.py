"""The synthesized roles and their identity policies, every intrinsic resolved to the
name the local runtime uses (by ``local.cdk_assembly``'s reading of the stage).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.cdk_assembly import AssemblyError, StageAssembly


@dataclass
class Role:
    """One synthesized role: its identity policies (resolved) and trust policy."""

    logical_id: str
    stack: str
    name: str
    arn: str
    description: str
    policies: list[dict[str, Any]] = field(default_factory=list)
    trust: dict[str, Any] = field(default_factory=dict)


class StageTemplates(StageAssembly):
    """The stage's templates, read as IAM sees them: its roles and their policies."""

    def role_arns(self) -> dict[str, str]:
        """Every role's ARN by logical id (without resolving its policies)."""
        return {
            lid: self.attribute(stack, lid, "Arn")
            for stack, template in self.templates.items()
            for lid, resource in template["Resources"].items()
            if resource["Type"] == "AWS::IAM::Role"
        }

    def roles(self) -> dict[str, Role]:
        """Every role of the stage by logical id, with its resolved identity policies:
        inline ``Policies``, ``AWS::IAM::Policy`` and customer-managed policies attached."""
        found: dict[str, Role] = {}
        for stack, template in self.templates.items():
            for lid, resource in template["Resources"].items():
                if resource["Type"] != "AWS::IAM::Role":
                    continue
                properties = resource["Properties"]
                if properties.get("ManagedPolicyArns"):
                    raise AssemblyError(f"{lid}: managed policy ARNs are not modelled")
                found[lid] = Role(
                    logical_id=lid,
                    stack=stack,
                    name=self.physical_name(stack, lid),
                    arn=self.attribute(stack, lid, "Arn"),
                    description=str(properties.get("Description", "")),
                    policies=[
                        self.resolve(p["PolicyDocument"], stack)
                        for p in properties.get("Policies", [])
                    ],
                    trust=self.resolve(properties["AssumeRolePolicyDocument"], stack),
                )
            for resource in template["Resources"].values():
                if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                    continue
                properties = resource["Properties"]
                for reference in properties.get("Roles", []):
                    if not (isinstance(reference, Mapping) and "Ref" in reference):
                        raise AssemblyError(f"a policy attached to {reference!r} (not a Ref)")
                    found[reference["Ref"]].policies.append(
                        self.resolve(properties["PolicyDocument"], stack)
                    )
        return found
