"""The pipelines and the Glue jobs of a stage, read out of its cloud assembly.

The pipeline definition sits in the MlPipeline template as ``Fn::Sub [body, values]``:
values literal at synth (the model package group, the code assets' bucket and keys) are
used as they are; the rest (bucket names, the key, the job roles) are the local
runtime's, and one nobody supplies is an error that names it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.cdk_assembly.intrinsics import AssemblyError, Lookup, no_values, resolve
from local.cdk_assembly.stage import StageAssembly


@dataclass(frozen=True)
class PipelineTemplate:
    """The pipeline's definition body, its ``Fn::Sub`` values, the stage's assets, and
    the model package group the stack creates."""

    name: str
    body: str
    values: dict[str, Any]
    assets: dict[tuple[str, str], Path]  # (bucket, key) -> staged file in cdk.out
    model_package_group: str

    def literal_values(self) -> dict[str, str]:
        return {k: v for k, v in self.values.items() if isinstance(v, str)}

    def render(
        self, supplied: dict[str, str] | None = None, lookup: Lookup = no_values
    ) -> dict[str, Any]:
        """The definition as ``Fn::Sub`` renders it: a placeholder takes its value from
        ``supplied`` (by placeholder name), else from the template's values, whose
        references (and the body's own, such as ``${AWS::Region}``) ``lookup`` resolves."""
        variables = {**self.values, **(supplied or {})}
        rendered: dict[str, Any] = json.loads(resolve({"Fn::Sub": [self.body, variables]}, lookup))
        return rendered


def load_pipeline_template(
    cdk_out: Path, stage: str = "Dev", construct: str = "Training"
) -> PipelineTemplate:
    """A pipeline of ``stage`` in the cloud assembly at ``cdk_out``: the training pipeline,
    or the batch scoring one (``construct="Batch"``), by its construct's logical id."""
    assembly = StageAssembly(cdk_out, stage)
    for stack in assembly.stacks("MlPipeline"):
        for lid, resource in assembly.resources(stack, "AWS::SageMaker::Pipeline").items():
            if not lid.startswith(f"{construct}Pipeline"):
                continue
            properties = resource["Properties"]
            body, values = properties["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"]
            groups = assembly.resources(stack, "AWS::SageMaker::ModelPackageGroup")
            if len(groups) != 1:
                raise AssemblyError(
                    f"{stack}: expected one model package group, found {len(groups)}"
                )
            [group] = [g["Properties"]["ModelPackageGroupName"] for g in groups.values()]
            return PipelineTemplate(
                name=properties["PipelineName"],
                body=body,
                values=values,
                assets=assembly.assets(stack),
                model_package_group=str(group),
            )
    raise AssemblyError(f"no {construct} pipeline in the {stage} stage of {cdk_out}")


@dataclass(frozen=True)
class GlueJobTemplate:
    """A synthesized ``AWS::Glue::Job``: its logical ID and ``DefaultArguments`` (values
    CloudFormation resolves, such as bucket URLs, stay as their intrinsic functions)."""

    logical_id: str
    arguments: dict[str, Any]

    def literal(self, name: str) -> str | None:
        """The value of ``--name`` when the template holds it as plain text."""
        value = self.arguments.get(f"--{name}")
        return value if isinstance(value, str) else None


def load_glue_jobs(
    cdk_out: Path, scripts: dict[str, Path], stage: str = "Dev"
) -> dict[str, GlueJobTemplate]:
    """The Glue jobs of ``stage``'s DataLake stack, keyed as in ``scripts`` (name -> the
    job script's source): a job is the one whose staged script asset is that file."""
    assembly = StageAssembly(cdk_out, stage)
    sources = {name: path.read_bytes() for name, path in scripts.items()}
    jobs: dict[str, GlueJobTemplate] = {}
    for stack in assembly.stacks("DataLake"):
        staged = {key: path for (_, key), path in assembly.assets(stack).items()}
        for logical_id, resource in assembly.resources(stack, "AWS::Glue::Job").items():
            properties = resource["Properties"]
            location = str(properties["Command"]["ScriptLocation"])
            script = staged.get(location.rsplit("/", 1)[-1])
            body = script.read_bytes() if script is not None else None
            for name, source in sources.items():
                if body == source:
                    jobs[name] = GlueJobTemplate(logical_id, dict(properties["DefaultArguments"]))
    missing = sorted(set(scripts) - set(jobs))
    if missing:
        raise AssemblyError(
            f"no AWS::Glue::Job in the {stage} DataLake stack of {cdk_out} "
            f"runs {', '.join(missing)}"
        )
    return jobs
