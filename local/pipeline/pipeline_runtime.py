"""Execute a SageMaker Pipeline definition locally, step by step.

The definition is the one CloudFormation deploys (see ``local.cdk_assembly``). This
interpreter does what the Pipelines service does with it: resolves parameters,
``Get`` references to execution variables and step properties, ``Std:Join`` and
``Std:JsonGet`` over property files; orders steps by their data and explicit
dependencies; runs processing and training steps as jobs (``local.pipeline.sagemaker_jobs``)
against S3 on moto; creates models and runs Transform steps as batch transform jobs
(``local.pipeline.transform_job``); evaluates conditions; registers model packages
through the SageMaker API on moto; and stops at a Fail step with its message.

Not reproduced: step caching and retry policies (nothing here is throttled or short of
capacity), and parallel execution of independent steps.
"""

from __future__ import annotations

import json
import operator
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.pipeline.sagemaker_jobs import (
    JobFailedError,
    JobRun,
    run_processing_job,
    run_training_job,
)
from local.pipeline.transform_job import run_transform_job
from local.s3_sync import split_uri
from local.service_metrics import PIPELINES, pipeline_execution_data, put

STEP_REFERENCE = re.compile(r'"Get":\s*"Steps\.([A-Za-z0-9_-]+)')
PATH_TOKEN = re.compile(r"\.?([A-Za-z0-9_]+)|\['([^']*)'\]|\[(\d+)\]")
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "GreaterThanOrEqualTo": operator.ge,
    "GreaterThan": operator.gt,
    "LessThanOrEqualTo": operator.le,
    "LessThan": operator.lt,
    "Equals": operator.eq,
}


class PipelineError(RuntimeError):
    """The definition cannot be executed as written; the message names the step."""


@dataclass
class StepRecord:
    name: str
    type: str
    status: str  # Succeeded | Failed
    seconds: float
    log_tail: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Execution:
    arn: str
    id: str
    status: str = "Executing"
    failure_reason: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    model_package_arn: str | None = None

    def step(self, name: str) -> StepRecord:
        return next(s for s in self.steps if s.name == name)

    def list_steps(self) -> list[dict[str, Any]]:
        """The steps as ListPipelineExecutionSteps reports them (newest first): a failed
        step carries its ``FailureReason``, a job step its job in ``Metadata``."""
        kinds = {"Processing": "ProcessingJob", "Training": "TrainingJob"}
        listed = []
        for record in reversed(self.steps):
            item: dict[str, Any] = {"StepName": record.name, "StepStatus": record.status}
            reason = record.detail.get("error") or record.detail.get("error_message")
            if record.status == "Failed" and reason:
                item["FailureReason"] = str(reason)
            if record.type in kinds and "job" in record.detail:
                item["Metadata"] = {kinds[record.type]: {"Name": record.detail["job"]}}
            listed.append(item)
        return listed


def _path_tokens(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    position = 0
    while position < len(path):
        match = PATH_TOKEN.match(path, position)
        if not match or match.end() == position:
            raise PipelineError(f"cannot parse property path {path!r}")
        name, key, index = match.groups()
        tokens.append(int(index) if index is not None else (name if name is not None else key))
        position = match.end()
    return tokens


def navigate(document: Any, path: str, *, what: str) -> Any:
    """Follow ``a.b['key'][0]`` into ``document``; ``['key']`` on a list picks the item
    whose ``...Name`` field is ``key`` (as ``Outputs['evaluation']`` does)."""
    node = document
    for token in _path_tokens(path):
        indexable = isinstance(token, int) and isinstance(node, list) and token < len(node)
        if indexable or (isinstance(node, dict) and token in node):
            node = node[token]
        elif isinstance(node, list):
            named = [
                item
                for item in node
                if any(k.endswith("Name") and v == token for k, v in item.items())
            ]
            if not named:
                raise PipelineError(f"{what}: no item named {token!r} in {path!r}")
            node = named[0]
        else:
            raise PipelineError(f"{what}: {path!r} does not resolve (stopped at {token!r})")
    return node


@dataclass
class _Step:
    definition: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.definition["Name"])

    @property
    def type(self) -> str:
        return str(self.definition["Type"])

    def dependencies(self) -> set[str]:
        references = set(STEP_REFERENCE.findall(json.dumps(self.definition.get("Arguments", {}))))
        return references | set(self.definition.get("DependsOn", []))


class LocalPipeline:
    """One pipeline definition, executed against SageMaker and S3 clients (moto)."""

    def __init__(
        self,
        definition: dict[str, Any],
        *,
        name: str,
        sagemaker: Any,
        s3: Any,
        work_dir: Path,
        env: Mapping[str, str],
        on_step: Callable[[StepRecord], None] | None = None,
        cloudwatch: Any | None = None,
    ) -> None:
        self.definition = definition
        # Where SageMaker's execution metrics go (LOCAL stand-in); None: nowhere.
        self.cloudwatch = cloudwatch
        self.name = name
        self.sagemaker = sagemaker
        self.s3 = s3
        # Absolute: job entry points run from their own folders (the code bundle's root).
        self.work_dir = work_dir.resolve()
        self.env = env
        self.on_step = on_step or (lambda record: None)
        self.steps = {s.name: s for s in self._all_steps(definition["Steps"])}

    def _all_steps(self, steps: list[dict[str, Any]]) -> list[_Step]:
        found = []
        for step in steps:
            found.append(_Step(step))
            if step["Type"] == "Condition":
                arguments = step["Arguments"]
                found += self._all_steps(
                    arguments.get("IfSteps", []) + arguments.get("ElseSteps", [])
                )
        return found

    # ---- execution -------------------------------------------------------------------

    def execute(
        self, parameters: Mapping[str, Any] | None = None, *, execution_arn: str | None = None
    ) -> Execution:
        """Run one execution to its end; returns its record (status, steps, package).

        With ``execution_arn``, run an execution someone else started (e.g. the retrain
        trigger) with the parameters it was started with, instead of starting one.
        """
        overrides = dict(parameters or {})
        if execution_arn is not None:
            started = self.sagemaker.list_pipeline_parameters_for_execution(
                PipelineExecutionArn=execution_arn
            ).get("PipelineParameters", [])
            overrides = {**{p["Name"]: p["Value"] for p in started}, **overrides}
        unknown = set(overrides) - {p["Name"] for p in self.definition.get("Parameters", [])}
        if unknown:
            raise PipelineError(f"unknown pipeline parameters {sorted(unknown)}")
        arn = (
            execution_arn
            or self.sagemaker.start_pipeline_execution(
                PipelineName=self.name,
                PipelineParameters=[{"Name": k, "Value": str(v)} for k, v in overrides.items()],
            )["PipelineExecutionArn"]
        )
        execution = Execution(arn=arn, id=arn.rsplit("/", 1)[-1])
        state = _State(self, execution, self._parameters(overrides))
        top_level = [_Step(s) for s in self.definition["Steps"]]
        started_at = datetime.now(UTC)
        try:
            state.run_in_order(top_level)
            execution.status = "Succeeded"
        except _ExecutionStoppedError as stop:
            execution.status, execution.failure_reason = "Failed", str(stop)
        if self.cloudwatch is not None:
            data = pipeline_execution_data(
                self.name, execution.status, started_at, datetime.now(UTC)
            )
            put(self.cloudwatch, PIPELINES, data)
        return execution

    def _parameters(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        casts: dict[str, Callable[[Any], Any]] = {
            "Float": float,
            "Integer": int,
            "Boolean": lambda v: str(v).lower() == "true",
        }
        values = {}
        for parameter in self.definition.get("Parameters", []):
            name, kind = parameter["Name"], parameter["Type"]
            value = overrides.get(name, parameter.get("DefaultValue"))
            if value is None:
                raise PipelineError(f"pipeline parameter {name} has no value and no default")
            values[name] = casts.get(kind, str)(value)
        return values


class _ExecutionStoppedError(Exception):
    """A step failed or a Fail step ran: the execution ends as Failed."""


class _State:
    """One execution in progress: parameters, finished steps, loaded property files."""

    def __init__(self, pipeline: LocalPipeline, execution: Execution, params: dict[str, Any]):
        self.pipeline = pipeline
        self.execution = execution
        self.params = params
        self.described: dict[str, dict[str, Any]] = {}
        self.property_files: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}  # CreateModel requests by model name

    def run_in_order(self, steps: list[_Step]) -> None:
        pending = {s.name: s for s in steps}
        while pending:
            ready = [
                s
                for s in pending.values()
                if all(d in self.described or d not in pending for d in s.dependencies())
            ]
            if not ready:
                raise PipelineError(f"steps {sorted(pending)} depend on each other in a cycle")
            step = ready[0]
            missing = [
                d for d in step.dependencies() if d not in self.described and d not in pending
            ]
            if missing:
                raise PipelineError(f"step {step.name}: depends on {missing}, which did not run")
            del pending[step.name]
            self.run(step)

    # ---- expressions -----------------------------------------------------------------

    def get(self, reference: str, *, step: str) -> Any:
        head, _, rest = reference.partition(".")
        if head == "Parameters":
            if rest not in self.params:
                raise PipelineError(f"step {step}: unknown parameter in {reference!r}")
            return self.params[rest]
        if head == "Execution":
            variables = {
                "PipelineExecutionId": self.execution.id,
                "PipelineExecutionArn": self.execution.arn,
                "PipelineName": self.pipeline.name,
            }
            if rest not in variables:
                raise PipelineError(f"step {step}: unknown execution variable {reference!r}")
            return variables[rest]
        if head == "Steps":
            target, _, path = rest.partition(".")
            if target not in self.described:
                raise PipelineError(f"step {step}: {reference!r} refers to a step that has not run")
            if path.startswith("PropertyFiles."):
                name = path.split(".", 1)[1]
                if name not in self.property_files:
                    raise PipelineError(f"step {step}: no property file {name!r} in {target}")
                return self.property_files[name]
            return navigate(self.described[target], path, what=f"step {step}")
        raise PipelineError(f"step {step}: cannot resolve {reference!r}")

    def resolve(self, value: Any, *, step: str) -> Any:
        if isinstance(value, list):
            return [self.resolve(v, step=step) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self.get(value["Get"], step=step)
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return str(join["On"]).join(str(self.resolve(v, step=step)) for v in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            spec = value["Std:JsonGet"]
            document = self.resolve(spec["PropertyFile"], step=step)
            return navigate(document, spec["Path"], what=f"step {step} JsonGet")
        return {k: self.resolve(v, step=step) for k, v in value.items()}

    def holds(self, condition: dict[str, Any], *, step: str) -> bool:
        kind = condition["Type"]
        if kind in COMPARISONS:
            left = self.resolve(condition["LeftValue"], step=step)
            right = self.resolve(condition["RightValue"], step=step)
            if kind != "Equals":
                left, right = float(left), float(right)
            return COMPARISONS[kind](left, right)
        if kind == "Not":
            return not self.holds(condition["Expression"], step=step)
        if kind == "Or":
            return any(self.holds(c, step=step) for c in condition["Conditions"])
        if kind == "In":
            query = self.resolve(condition["QueryValue"], step=step)
            return query in self.resolve(condition["Values"], step=step)
        raise PipelineError(f"step {step}: unsupported condition type {kind!r}")

    # ---- steps -------------------------------------------------------------------------

    def run(self, step: _Step) -> None:
        if step.type == "Condition":
            self._condition(step)
            return
        runners: dict[str, Callable[[_Step], StepRecord]] = {
            "Processing": self._processing,
            "Training": self._training,
            "RegisterModel": self._register,
            "Model": self._model,
            "Transform": self._transform,
            "Fail": self._fail,
        }
        if step.type not in runners:
            raise PipelineError(f"step {step.name}: unsupported step type {step.type!r}")
        started = time.monotonic()
        try:
            record = runners[step.type](step)
        except PipelineError:
            raise  # the definition itself is wrong: not a step failure
        except Exception as failure:
            # As on SageMaker, a job that fails, or whose inputs, outputs or API calls
            # fail, ends the step (and the execution) as Failed with the reason.
            tail = failure.log_tail if isinstance(failure, JobFailedError) else ""
            detail = {"error": str(failure), "job": self._job_name(step)}
            record = StepRecord(step.name, step.type, "Failed", 0.0, tail, detail=detail)
            self._finish(record, started)
            raise _ExecutionStoppedError(f"step {step.name} failed: {failure}") from failure
        self._finish(record, started)
        if record.status == "Failed":
            raise _ExecutionStoppedError(
                record.detail.get("error_message", f"step {step.name} failed")
            )

    def _finish(self, record: StepRecord, started: float) -> None:
        record.seconds = round(time.monotonic() - started, 2)
        self.execution.steps.append(record)
        self.pipeline.on_step(record)

    def _job_name(self, step: _Step) -> str:
        return f"pipelines-{self.execution.id}-{step.name}".lower()

    def _job_kwargs(self, step: _Step) -> dict[str, Any]:
        return {
            "job_name": self._job_name(step),
            "work_dir": self.pipeline.work_dir / self.execution.id,
            "s3": self.pipeline.s3,
            "env": self.pipeline.env,
        }

    def _record(self, step: _Step, run: JobRun, detail: dict[str, Any]) -> StepRecord:
        self.described[step.name] = run.describe
        return StepRecord(step.name, step.type, "Succeeded", run.seconds, run.log_tail, detail)

    def _processing(self, step: _Step) -> StepRecord:
        arguments = self.resolve(step.definition["Arguments"], step=step.name)
        run = run_processing_job(arguments, **self._job_kwargs(step))
        record = self._record(step, run, {"job": run.name, "runtime": run.runtime})
        for spec in step.definition.get("PropertyFiles", []):
            outputs = arguments["ProcessingOutputConfig"]["Outputs"]
            output = navigate(outputs, f"['{spec['OutputName']}']", what=f"step {step.name}")
            uri = f"{output['S3Output']['S3Uri'].rstrip('/')}/{spec['FilePath']}"
            bucket, key = split_uri(uri)
            body = self.pipeline.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            self.property_files[spec["PropertyFileName"]] = json.loads(body)
        return record

    def _training(self, step: _Step) -> StepRecord:
        arguments = self.resolve(step.definition["Arguments"], step=step.name)
        run = run_training_job(arguments, **self._job_kwargs(step))
        detail = {"job": run.name, "metrics": run.metrics, "runtime": run.runtime}
        return self._record(step, run, detail)

    def _condition(self, step: _Step) -> None:
        """Evaluate the conditions (all must hold), record the step, then run its branch."""
        started = time.monotonic()
        arguments = step.definition["Arguments"]
        outcome = all(self.holds(c, step=step.name) for c in arguments["Conditions"])
        self.described[step.name] = {"Outcome": str(outcome).lower()}
        self._finish(
            StepRecord(step.name, step.type, "Succeeded", 0.0, detail={"outcome": outcome}),
            started,
        )
        branch = arguments["IfSteps"] if outcome else arguments["ElseSteps"]
        self.run_in_order([_Step(s) for s in branch])

    def _register(self, step: _Step) -> StepRecord:
        request = self.resolve(step.definition["Arguments"], step=step.name)
        arn = self.pipeline.sagemaker.create_model_package(**request)["ModelPackageArn"]
        described = self.pipeline.sagemaker.describe_model_package(ModelPackageName=arn)
        self.described[step.name] = described
        self.execution.model_package_arn = arn
        return StepRecord(step.name, step.type, "Succeeded", 0.0, detail={"model_package_arn": arn})

    def _model(self, step: _Step) -> StepRecord:
        """CreateModel on moto. The request is also kept: moto's DescribeModel drops
        ``EnableNetworkIsolation``, which the Transform step's container must honour."""
        request = self.resolve(step.definition["Arguments"], step=step.name)
        # Named as Pipelines names what a step creates, unless the request names it.
        request.setdefault("ModelName", self._job_name(step))
        self.pipeline.sagemaker.create_model(**request)
        self.models[request["ModelName"]] = request
        self.described[step.name] = self.pipeline.sagemaker.describe_model(
            ModelName=request["ModelName"]
        )
        detail = {"model": request["ModelName"]}
        return StepRecord(step.name, step.type, "Succeeded", 0.0, detail=detail)

    def _transform(self, step: _Step) -> StepRecord:
        arguments = self.resolve(step.definition["Arguments"], step=step.name)
        model = self.models.get(arguments["ModelName"])
        if model is None:  # the local runtime serves only what a Model step created
            raise PipelineError(
                f"step {step.name}: model {arguments['ModelName']} is not one a Model step "
                "of this execution created"
            )
        run = run_transform_job(
            arguments, model=model, sagemaker=self.pipeline.sagemaker, **self._job_kwargs(step)
        )
        detail = {
            "job": run.name,
            "runtime": run.runtime,
            "input": arguments["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
            "output": arguments["TransformOutput"]["S3OutputPath"],
            **{k: int(v) for k, v in run.metrics.items()},
        }
        return self._record(step, run, detail)

    def _fail(self, step: _Step) -> StepRecord:
        message = str(self.resolve(step.definition["Arguments"]["ErrorMessage"], step=step.name))
        return StepRecord(step.name, step.type, "Failed", 0.0, detail={"error_message": message})
