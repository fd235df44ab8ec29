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
