"""The synthesized roles and their identity policies, read from ``cdk.out`` with every
CloudFormation intrinsic resolved to the name the local runtime uses.

CloudFormation resolves ``Ref``, ``Fn::GetAtt``, ``Fn::ImportValue``, ``Fn::Join`` and
``Fn::Sub`` at deploy time; here they resolve against the stage's templates: an export
is looked up in the template that declares it, a resource's name is its explicit
physical name when the template gives one, else the local name ``names`` supplies for
its logical id, else the logical id itself. ARNs are built in the stage's own account
and region (from the assembly manifest), so they compare with the ARNs of the calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.cdk_assembly import AssemblyError, stage_assembly

# A resource's explicit physical name, by type (the property CloudFormation names it by).
NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SSM::Parameter": "Name",
    "AWS::Glue::Workflow": "Name",
    "AWS::Glue::Job": "Name",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::SageMaker::Pipeline": "PipelineName",
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
    "AWS::SageMaker::Endpoint": "EndpointName",
}


@dataclass(frozen=True)
class Stage:
    """Where the stage's resources live: account, region, partition."""

    account: str
    region: str
    partition: str = "aws"


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


class StageTemplates:
    """The stage's templates, with intrinsics resolved to local names."""

    def __init__(
        self,
        cdk_out: Path,
        stage_name: str,
        names: Callable[[str], str | None] | None = None,
        parameters: Callable[[str], str | None] | None = None,
    ) -> None:
        directory = stage_assembly(cdk_out, stage_name)
        manifest = json.loads((directory / "manifest.json").read_text())
        environments = {
            a["environment"]
            for a in manifest["artifacts"].values()
            if a.get("type") == "aws:cloudformation:stack"
        }
        if len(environments) != 1:
            raise AssemblyError(f"the {stage_name} stage spans {sorted(environments)}")
        account, region = environments.pop().removeprefix("aws://").split("/")
        self.stage = Stage(account=account, region=region)
        self.names = names or (lambda logical_id: None)
        # A template parameter's value, by its Default (for SSM-backed ones, the
        # parameter's name: CloudFormation reads the value from SSM at deploy time).
        self.parameters = parameters or (lambda default: None)
        self.templates: dict[str, dict[str, Any]] = {
            path.name.removesuffix(".template.json"): json.loads(path.read_text())
            for path in sorted(directory.glob("*.template.json"))
        }
        self.exports: dict[str, tuple[str, Any]] = {
            output["Export"]["Name"]: (stack, output["Value"])
            for stack, template in self.templates.items()
            for output in template.get("Outputs", {}).values()
            if "Export" in output
        }

    def template(self, fragment: str) -> tuple[str, dict[str, Any]]:
        """The one template whose stack name contains ``fragment``."""
        found = [(s, t) for s, t in self.templates.items() if fragment in s]
        if len(found) != 1:
            raise AssemblyError(f"expected one *{fragment}* stack, found {[s for s, _ in found]}")
        return found[0]

    def resources(self, stack: str, kind: str) -> dict[str, dict[str, Any]]:
        return {
            lid: r for lid, r in self.templates[stack]["Resources"].items() if r["Type"] == kind
        }

    # ---- names and ARNs -----------------------------------------------------------

    def physical_name(self, stack: str, logical_id: str) -> str:
        resource = self.templates[stack]["Resources"].get(logical_id)
        if resource is None:
            raise AssemblyError(f"{stack} has no resource {logical_id}")
        explicit = resource.get("Properties", {}).get(NAME_PROPERTY.get(resource["Type"], ""))
        if isinstance(explicit, str):
            return explicit
        return self.names(logical_id) or logical_id

    def attribute(self, stack: str, logical_id: str, attribute: str) -> str:
        """``Fn::GetAtt`` (``attribute`` "Ref" for ``Ref``) of one of ``stack``'s resources."""
        resource = self.templates[stack]["Resources"].get(logical_id)
        if resource is None:
            raise AssemblyError(f"{stack} has no resource {logical_id}")
        kind, name = resource["Type"], self.physical_name(stack, logical_id)
        s = self.stage
        prefix = f"arn:{s.partition}"
        if attribute in ("Ref", "Name", "ModelName", "EndpointConfigName", "QueueName"):
            if kind == "AWS::SQS::Queue" and attribute == "Ref":
                return f"https://sqs.{s.region}.amazonaws.com/{s.account}/{name}"
            return name
        if attribute != "Arn":
            raise AssemblyError(f"Fn::GetAtt {logical_id}.{attribute} is not modelled")
        arns = {
            "AWS::S3::Bucket": f"{prefix}:s3:::{name}",
            "AWS::KMS::Key": f"{prefix}:kms:{s.region}:{s.account}:key/{name}",
            "AWS::IAM::Role": f"{prefix}:iam::{s.account}:role/{name}",
            "AWS::DynamoDB::Table": f"{prefix}:dynamodb:{s.region}:{s.account}:table/{name}",
            "AWS::Logs::LogGroup": f"{prefix}:logs:{s.region}:{s.account}:log-group:{name}:*",
            "AWS::SQS::Queue": f"{prefix}:sqs:{s.region}:{s.account}:{name}",
            "AWS::Lambda::Function": f"{prefix}:lambda:{s.region}:{s.account}:function:{name}",
            "AWS::SNS::Topic": f"{prefix}:sns:{s.region}:{s.account}:{name}",
        }
        if kind not in arns:
            raise AssemblyError(f"the ARN of a {kind} ({logical_id}) is not modelled")
        return arns[kind]

    def resolve(self, value: Any, stack: str) -> Any:
        """``value`` with every intrinsic resolved (strings, lists and dicts recursed)."""
        if isinstance(value, list):
            return [self.resolve(v, stack) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {k: self.resolve(v, stack) for k, v in value.items()}
        [(function, argument)] = value.items()
        if function == "Ref":
            pseudo = {
                "AWS::AccountId": self.stage.account,
                "AWS::Region": self.stage.region,
                "AWS::Partition": self.stage.partition,
                "AWS::URLSuffix": "amazonaws.com",
            }
            if argument in pseudo:
                return pseudo[argument]
            declared = self.templates[stack].get("Parameters", {}).get(argument)
            if declared is not None:
                value = self.parameters(str(declared.get("Default", argument)))
                if value is None:
                    raise AssemblyError(f"template parameter {argument} has no local value")
                return value
            return self.attribute(stack, argument, "Ref")
        if function == "Fn::GetAtt":
            logical_id, attribute = (
                argument if isinstance(argument, list) else argument.split(".", 1)
            )
            return self.attribute(stack, logical_id, attribute)
        if function == "Fn::ImportValue":
            if argument not in self.exports:
                raise AssemblyError(f"no stack of the stage exports {argument!r}")
            owner, exported = self.exports[argument]
            return self.resolve(exported, owner)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(p, stack)) for p in parts)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items, stack)[int(index)]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text, stack)).split(separator)
        if function == "Fn::Sub":
            body, values = (argument, {}) if isinstance(argument, str) else argument
            resolved = {k: str(self.resolve(v, stack)) for k, v in values.items()}

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in resolved:
                    return resolved[name]
                if "." in name:
                    logical_id, attribute = name.split(".", 1)
                    return self.attribute(stack, logical_id, attribute)
                return str(self.resolve({"Ref": name}, stack))

            return re.sub(r"\$\{([^}!]+)\}", substitute, body)
        raise AssemblyError(f"{function} is not resolved locally: {json.dumps(value)[:200]}")

    # ---- roles --------------------------------------------------------------------

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
