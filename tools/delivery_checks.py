"""Checks the delivery pipeline runs against a freshly deployed stage (post-deploy steps).

    python -m tools.delivery_checks smoke --stage Dev
    python -m tools.delivery_checks pipeline-definition --stage Dev

``smoke`` sends one valid row, built from the dataset schema, to the stage's endpoint and
checks the answer; with no approved version recorded yet (the stage has no endpoint) it
says so and passes. ``pipeline-definition`` reads the deployed training pipeline's
definition back (DescribePipeline) and checks it is a well-formed definition: JSON with a
version, uniquely named steps, every step and parameter reference resolving, and a model
registration step. Both exit non-zero with the reason on failure.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from config.layout import NO_MODEL_VERSION, model_version_parameter, resource_name
from config.schema import DatasetSchema, FeatureType, ProblemType, load_schema

REFERENCE = re.compile(r"^(Steps|Parameters)\.([A-Za-z0-9_-]+)")


class CheckFailedError(RuntimeError):
    """The deployed stage does not behave as the pipeline requires."""


def sample_row(schema: DatasetSchema) -> str:
    """One valid CSV record in the schema's feature order (the endpoint's raw input)."""
    values = []
    for feature in schema.features:
        if feature.type is FeatureType.CATEGORICAL:
            values.append(feature.categories[0])
        elif feature.type is FeatureType.BOOLEAN:
            values.append("false")
        else:
            low = feature.minimum if feature.minimum is not None else 0.0
            high = feature.maximum if feature.maximum is not None else low
            values.append(f"{(low + high) / 2:g}")
    return ",".join(values)


def smoke(*, stage: str, schema: DatasetSchema, runtime: Any, ssm: Any) -> str:
    """Invoke the stage's endpoint with one row; return what happened."""
    parameter = model_version_parameter(stage, schema.name)
    served = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    if served == NO_MODEL_VERSION:
        return f"skipped: no approved model version recorded in {parameter} (no endpoint yet)"
    endpoint = resource_name(stage, schema.name, "endpoint")
    reply = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=sample_row(schema)
    )
    body = reply["Body"].read().decode().strip()
    fields = body.split(",")
    try:
        score = float(fields[0])
    except ValueError as error:
        raise CheckFailedError(f"{endpoint} answered {body!r}, not a score") from error
    if schema.problem_type is ProblemType.BINARY_CLASSIFICATION and not 0.0 <= score <= 1.0:
        raise CheckFailedError(f"{endpoint} answered probability {score}, outside [0, 1]")
    classes = schema.target.classes
    if classes and (len(fields) != len(classes) + 1 or fields[-1] not in classes):
        raise CheckFailedError(
            f"{endpoint} answered {body!r}, not {len(classes)} class probabilities and a class"
        )
    return f"ok: {endpoint} ({served}) answered {body}"


def _steps(steps: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for step in steps:
        yield step
        arguments = step.get("Arguments", {})
        if step.get("Type") == "Condition":
            yield from _steps(arguments.get("IfSteps", []))
            yield from _steps(arguments.get("ElseSteps", []))


def _references(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Get", "Std:JsonGet") and isinstance(value, str):
                match = REFERENCE.match(value)
                if match:
                    yield match.group(1), match.group(2)
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def check_definition(text: str) -> list[str]:
    """Problems with a SageMaker pipeline definition (empty when it is well formed)."""
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as error:
        return [f"the definition is not JSON: {error}"]
    problems = []
    if "Version" not in definition:
        problems.append("no Version")
    steps = list(_steps(definition.get("Steps", [])))
    if not steps:
        problems.append("no steps")
    names = [step.get("Name") for step in steps]
    duplicates = sorted({n for n in names if names.count(n) > 1 and n is not None})
    if duplicates:
        problems.append(f"duplicate step names {duplicates}")
    parameters = {p.get("Name") for p in definition.get("Parameters", [])}
    known = {"Steps": set(names), "Parameters": parameters}
    for kind, name in sorted(set(_references(definition))):
        if name not in known[kind]:
            problems.append(f"reference to unknown {kind[:-1].lower()} {name!r}")
    for step in steps:
        for dependency in step.get("DependsOn", []):
            if dependency not in known["Steps"]:
                problems.append(f"{step.get('Name')} depends on unknown step {dependency!r}")
    if not any(step.get("Type") == "RegisterModel" for step in steps):
        problems.append("no RegisterModel step")
    return problems


def pipeline_definition(*, stage: str, schema: DatasetSchema, sagemaker: Any) -> str:
    """Read the deployed training pipeline's definition and check it."""
    name = resource_name(stage, schema.name, "training")
    described = sagemaker.describe_pipeline(PipelineName=name)
    problems = check_definition(described["PipelineDefinition"])
    if problems:
        raise CheckFailedError(f"{name}: " + "; ".join(problems))
    steps = len(list(_steps(json.loads(described["PipelineDefinition"])["Steps"])))
    return f"ok: {name} definition parsed, {steps} steps, all references resolve"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=["smoke", "pipeline-definition"])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--dataset", default="churn")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    import boto3

    args = parse_args(argv)
    schema = load_schema(args.dataset)
    try:
        if args.check == "smoke":
            message = smoke(
                stage=args.stage,
                schema=schema,
                runtime=boto3.client("sagemaker-runtime"),
                ssm=boto3.client("ssm"),
            )
        else:
            message = pipeline_definition(
                stage=args.stage, schema=schema, sagemaker=boto3.client("sagemaker")
            )
    except CheckFailedError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        sys.exit(1)
    print(message)


if __name__ == "__main__":
    main()
