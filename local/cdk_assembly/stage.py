"""One stage's cloud assembly (``cdk.out/assembly-<Stage>``): its templates, their file
assets and exports, and what CloudFormation would name their resources.

A resource's name is its explicit physical name when the template gives one, else the
local name ``names`` supplies for its logical id, else the logical id; ARNs are built in
the stage's account and region (from the manifest), so they compare with the calls'.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from local.cdk_assembly.intrinsics import AssemblyError, Lookup, resolve

TEMPLATE_SUFFIX = ".template.json"

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
# Attributes that are the resource's name, as Ref is for most types.
NAME_ATTRIBUTES = ("Ref", "Name", "ModelName", "EndpointConfigName", "QueueName")


def read_template(path: Path) -> dict[str, Any]:
    """A synthesized template, parsed."""
    template: dict[str, Any] = json.loads(path.read_text())
    return template


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of type ``kind`` by logical id (whole resources)."""
    return {
        lid: resource
        for lid, resource in template.get("Resources", {}).items()
        if resource.get("Type") == kind
    }


def file_assets(manifest: Path) -> dict[tuple[str, str], Path]:
    """(bucket, key) -> staged file, for an ``*.assets.json``'s file assets (templates
    and directory assets left out: no local consumer uploads them)."""
    data = json.loads(manifest.read_text())
    assets: dict[tuple[str, str], Path] = {}
    for asset in data.get("files", {}).values():
        source = (manifest.parent / asset["source"]["path"]).resolve()
        if asset["source"].get("packaging") != "file" or source.suffix == ".json":
            continue
        for destination in asset["destinations"].values():
            assets[(destination["bucketName"], destination["objectKey"])] = source
    return assets


def template_assets(template: Path) -> dict[tuple[str, str], Path]:
    """The file assets of the stack whose template is ``template``."""
    stack = template.name.removesuffix(TEMPLATE_SUFFIX)
    return file_assets(template.with_name(f"{stack}.assets.json"))


def stage_assembly(cdk_out: Path, stage: str) -> Path:
    """The folder of ``stage``'s assembly; an error if the app was not synthesized."""
    directory = cdk_out / f"assembly-{stage}"
    if not directory.is_dir():
        raise AssemblyError(f"no {directory}: synthesize the app first (make synth)")
    return directory


def all_templates(cdk_out: Path) -> list[Path]:
    """Every template in ``cdk_out``: app-level stacks (Delivery) at the top, then each
    stage's from its ``assembly-<Stage>/``."""
    top = sorted(cdk_out.glob(f"*{TEMPLATE_SUFFIX}"))
    return top + sorted(cdk_out.glob(f"assembly-*/*{TEMPLATE_SUFFIX}"))


def stage_names(cdk_out: Path) -> list[str]:
    """The stages synthesized into ``cdk_out``, sorted."""
    return sorted(
        d.name.removeprefix("assembly-") for d in cdk_out.glob("assembly-*") if d.is_dir()
    )


@dataclass(frozen=True)
class Stage:
    """Where the stage's resources live: account, region, partition."""

    account: str
    region: str
    partition: str = "aws"


class StageAssembly:
    """The stage's templates by stack name, read on first use, with intrinsics resolved
    against them: ``names`` gives a resource's local name by logical id, ``parameters`` a
    template parameter's value by its Default (for SSM-backed ones, the parameter's name:
    CloudFormation reads the value from SSM at deploy time)."""

    def __init__(
        self,
        cdk_out: Path,
        stage_name: str,
        names: Callable[[str], str | None] | None = None,
        parameters: Callable[[str], str | None] | None = None,
    ) -> None:
        self.cdk_out = cdk_out
        self.stage_name = stage_name
        self.directory = stage_assembly(cdk_out, stage_name)
        self.names = names or (lambda logical_id: None)
        self.parameters = parameters or (lambda default: None)
        self.paths = {
            path.name.removesuffix(TEMPLATE_SUFFIX): path
            for path in sorted(self.directory.glob(f"*{TEMPLATE_SUFFIX}"))
        }

    # ---- files ----------------------------------------------------------------------

    @cached_property
    def templates(self) -> dict[str, dict[str, Any]]:
        return {stack: read_template(path) for stack, path in self.paths.items()}

    @cached_property
    def stage(self) -> Stage:
        """The stage's one account and region, from the assembly manifest."""
        manifest = json.loads((self.directory / "manifest.json").read_text())
        environments = {
            a["environment"]
            for a in manifest["artifacts"].values()
            if a.get("type") == "aws:cloudformation:stack"
        }
        if len(environments) != 1:
            raise AssemblyError(f"the {self.stage_name} stage spans {sorted(environments)}")
        account, region = environments.pop().removeprefix("aws://").split("/")
        return Stage(account=account, region=region)

    @cached_property
    def stack_names(self) -> dict[str, str]:
        """CloudFormation stack name (e.g. "Dev-DataLake") -> the stack's artifact id."""
        manifest = json.loads((self.directory / "manifest.json").read_text())
        return {
            a["properties"]["stackName"]: artifact
            for artifact, a in manifest["artifacts"].items()
            if a.get("type") == "aws:cloudformation:stack" and artifact in self.paths
        }

    @cached_property
    def exports(self) -> dict[str, tuple[str, Any]]:
        """Export name -> (the stack exporting it, the exported value)."""
        return {
            output["Export"]["Name"]: (stack, output["Value"])
            for stack, template in self.templates.items()
            for output in template.get("Outputs", {}).values()
            if "Export" in output
        }

    def stacks(self, fragment: str) -> list[str]:
        """The stacks whose name contains ``fragment`` (e.g. "Monitoring"), sorted."""
        return [stack for stack in self.paths if fragment in stack]

    def stack(self, fragment: str) -> str:
        """The one stack whose name contains ``fragment``."""
        found = self.stacks(fragment)
        if len(found) != 1:
            raise AssemblyError(
                f"expected one *{fragment}* stack in the {self.stage_name} stage of "
                f"{self.cdk_out}, found {found}"
            )
        return found[0]

    def template(self, fragment: str) -> tuple[str, dict[str, Any]]:
        """The one stack whose name contains ``fragment``, and its template."""
        stack = self.stack(fragment)
        return stack, self.templates[stack]

    def resources(self, stack: str, kind: str) -> dict[str, dict[str, Any]]:
        return resources_of(self.templates[stack], kind)

    def assets(self, stack: str) -> dict[tuple[str, str], Path]:
        """(bucket, key) -> staged file, for the stack's file assets."""
        return template_assets(self.paths[stack])

    # ---- names, ARNs and intrinsics -------------------------------------------------

    def _resource(self, stack: str, logical_id: str) -> dict[str, Any]:
        resource: dict[str, Any] | None = self.templates[stack]["Resources"].get(logical_id)
        if resource is None:
            raise AssemblyError(f"{stack} has no resource {logical_id}")
        return resource

    def physical_name(self, stack: str, logical_id: str) -> str:
        resource = self._resource(stack, logical_id)
        explicit = resource.get("Properties", {}).get(NAME_PROPERTY.get(resource["Type"], ""))
        if isinstance(explicit, str):
            return explicit
        return self.names(logical_id) or logical_id

    def attribute(self, stack: str, logical_id: str, attribute: str) -> str:
        """``Fn::GetAtt`` (``attribute`` "Ref" for ``Ref``) of one of ``stack``'s resources."""
        kind = self._resource(stack, logical_id)["Type"]
        name = self.physical_name(stack, logical_id)
        s = self.stage
        prefix = f"arn:{s.partition}"
        if attribute in NAME_ATTRIBUTES:
            if kind == "AWS::SQS::Queue" and attribute == "Ref":
                return f"https://sqs.{s.region}.amazonaws.com/{s.account}/{name}"
            if kind == "AWS::SNS::Topic" and attribute == "Ref":  # a topic's Ref is its ARN
                return f"{prefix}:sns:{s.region}:{s.account}:{name}"
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

    def lookup(self, stack: str) -> Lookup:
        """What CloudFormation would give ``stack``'s references, locally named."""

        def reference(function: str, name: str) -> Any:
            if function == "Fn::GetAtt":
                logical_id, attribute = name.split(".", 1)
                return self.attribute(stack, logical_id, attribute)
            if function == "Fn::GetStackOutput":
                stack_name, output = name.split(".", 1)
                owner = self.stack_names.get(stack_name, "")
                outputs = self.templates.get(owner, {}).get("Outputs", {})
                if output not in outputs:
                    raise AssemblyError(f"the stage has no output {output} of {stack_name}")
                return resolve(outputs[output]["Value"], self.lookup(owner))
            if function == "Fn::ImportValue":
                if name not in self.exports:
                    raise AssemblyError(f"no stack of the stage exports {name!r}")
                owner, exported = self.exports[name]
                return resolve(exported, self.lookup(owner))
            pseudo = {
                "AWS::AccountId": self.stage.account,
                "AWS::Region": self.stage.region,
                "AWS::Partition": self.stage.partition,
                "AWS::URLSuffix": "amazonaws.com",
            }
            if name in pseudo:
                return pseudo[name]
            declared = self.templates[stack].get("Parameters", {}).get(name)
            if declared is not None:
                value = self.parameters(str(declared.get("Default", name)))
                if value is None:
                    raise AssemblyError(f"template parameter {name} has no local value")
                # A List<...> parameter (an SSM StringList among them) is a list to Ref.
                if "List<" in str(declared.get("Type", "")):
                    return value.split(",")
                return value
            return self.attribute(stack, name, "Ref")

        return reference

    def resolve(self, value: Any, stack: str) -> Any:
        """``value`` (from ``stack``'s template) with every intrinsic resolved."""
        return resolve(value, self.lookup(stack))
