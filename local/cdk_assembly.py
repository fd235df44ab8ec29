"""Read the synthesized training pipeline out of ``cdk.out``, as CloudFormation would.

The pipeline definition sits in the MlPipeline template as ``Fn::Sub [body, values]``.
Values that are literal at synth (the model package group, the code assets' bucket and
keys) are used as they are; values CloudFormation would resolve from other resources
(bucket names, the key, the job role) come from the local runtime. A placeholder nobody
supplies is an error that names it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


class AssemblyError(RuntimeError):
    """The cloud assembly lacks what the local runtime needs, or cannot be resolved."""


@dataclass(frozen=True)
class PipelineTemplate:
    """The pipeline's definition body, its ``Fn::Sub`` values, and the stage's assets."""

    name: str
    body: str
    values: dict[str, Any]
    assets: dict[tuple[str, str], Path]  # (bucket, key) -> staged file in cdk.out

    def literal_values(self) -> dict[str, str]:
        return {k: v for k, v in self.values.items() if isinstance(v, str)}

    def render(self, supplied: dict[str, str]) -> dict[str, Any]:
        """The definition with every ``${...}`` filled from literals and ``supplied``."""
        values = {**self.literal_values(), **supplied}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise AssemblyError(
                    f"pipeline definition placeholder ${{{name}}} has no local value"
                )
            return values[name]

        rendered: dict[str, Any] = json.loads(PLACEHOLDER.sub(substitute, self.body))
        return rendered


def stage_assembly(cdk_out: Path, stage: str) -> Path:
    directory = cdk_out / f"assembly-{stage}"
    if not directory.is_dir():
        raise AssemblyError(f"no {directory}: synthesize the app first (make synth)")
    return directory


def load_pipeline_template(cdk_out: Path, stage: str = "Dev") -> PipelineTemplate:
    """The training pipeline of ``stage`` in the cloud assembly at ``cdk_out``."""
    assembly = stage_assembly(cdk_out, stage)
    for template_path in sorted(assembly.glob("*MlPipeline*.template.json")):
        template = json.loads(template_path.read_text())
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::SageMaker::Pipeline":
                continue
            properties = resource["Properties"]
            body, values = properties["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"]
            manifest = template_path.with_name(template_path.name[: -len(".template.json")])
            return PipelineTemplate(
                name=properties["PipelineName"],
                body=body,
                values=values,
                assets=file_assets(manifest.with_suffix(".assets.json")),
            )
    raise AssemblyError(f"no AWS::SageMaker::Pipeline in the {stage} stage of {cdk_out}")


def file_assets(manifest: Path) -> dict[tuple[str, str], Path]:
    data = json.loads(manifest.read_text())
    assets: dict[tuple[str, str], Path] = {}
    for asset in data.get("files", {}).values():
        source = (manifest.parent / asset["source"]["path"]).resolve()
        if asset["source"].get("packaging") != "file" or source.suffix == ".json":
            continue  # templates, and directory assets the pipeline does not use
        for destination in asset["destinations"].values():
            assets[(destination["bucketName"], destination["objectKey"])] = source
    return assets


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
    assembly = stage_assembly(cdk_out, stage)
    sources = {name: path.read_bytes() for name, path in scripts.items()}
    jobs: dict[str, GlueJobTemplate] = {}
    for template_path in sorted(assembly.glob("*DataLake*.template.json")):
        template = json.loads(template_path.read_text())
        manifest = template_path.with_name(template_path.name[: -len(".template.json")])
        assets = file_assets(manifest.with_suffix(".assets.json"))
        staged = {key: path for (_, key), path in assets.items()}
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::Glue::Job":
                continue
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
