"""Least privilege, proven on the code's own calls: every runtime of the Dev stage runs
its real code against moto with an access key of its own, every request that reaches
the server is recorded with that key, and each one is decided against the synthesized
policies of the role that runtime runs as (LOCAL stand-in for IAM's evaluation,
``local/iam/policy_evaluation.py``). Calls the service makes with the role (S3's use of
the stage key, image pulls, logs, the pipeline creating its jobs, the endpoint reading
its model) are modelled from the synthesized definitions and decided the same way.

The test fails on any request the policies deny and on any role left unexercised; the
per-role table (called, modelled, granted but never used) is printed and, with
LEAST_PRIVILEGE_TABLE=<file>, written for docs/security.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

import local.pipeline.pipeline_runtime as pipeline_runtime
from config.layout import DATA_CAPTURE_PREFIX, GROUND_TRUTH_PREFIX, VARIANT_NAME
from config.schema import DATASETS_DIR, load_schema
from local.cdk_assembly import load_pipeline_template
from local.iam.authorization_requests import (
    CALLED,
    Authorization,
    UnmodelledCallError,
    from_call,
    image_pull,
    lambda_invocation,
    log_stream,
    pipeline_step,
    s3_key_requests,
    s3_uri_parts,
    sagemaker_job,
    volume_grant,
)
from local.iam.call_recorder import CallRecorder
from local.iam.least_privilege import RoleResult, decide, describe_denials, markdown_table
from local.iam.policy_evaluation import Request
from local.iam.role_policies import StageTemplates
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from local.lake.synthetic import generate_clean, write_raw
from local.monitoring.alarms import StateRecord, load_alarms, state_change_event
from local.monitoring.capture_traffic import captured_rows, ground_truth_line
from local.monitoring.glue_events import start_run
from local.monitoring.glue_events import state_change_event as glue_state_change
from local.monitoring.loop import IDEMPOTENCY_TABLE
from local.monitoring.retrain_function import LAMBDA_DIR, LAUNCHER_DIR, lambda_context, load_handler
from local.moto_platform import (
    ACCOUNT,
    ARTIFACTS_BUCKET,
    BATCH_MODEL_ROLE,
    CURATED_BUCKET,
    JOB_ROLE,
    RAW_BUCKET,
    REGION,
    TRAINING_ROLE,
    LocalPlatform,
    environment,
    local_platform,
)
from local.pipeline.pipeline_runtime import LocalPipeline
from local.pipeline.sagemaker_jobs import run_processing_job

pytestmark = pytest.mark.spark

STAGE = "Dev"
PROCESSED_BUCKET = "local-processed"
MONITOR_JOB_ROLE = "local-monitor-job"  # as local/monitoring/loop.py names it
PROMOTION_DIR = LAMBDA_DIR.parent / "model_promotion"
ROWS = 1500


def _local_names(key_id: str) -> Callable[[str], str | None]:
    """The local runtime's names for the stage's resources, by logical id prefix."""
    by_prefix = [
        ("Artifacts", ARTIFACTS_BUCKET),
        ("Curated", CURATED_BUCKET),
        ("Processed", PROCESSED_BUCKET),
        ("Raw", RAW_BUCKET),
        ("DataKey", key_id),
        ("MonitorJobRole", MONITOR_JOB_ROLE),
        ("TrainingJobRole", JOB_ROLE),
        ("TrainingTrainingRole", TRAINING_ROLE),
        ("BatchModelRole", BATCH_MODEL_ROLE),
        ("RetrainIdempotencyTable", IDEMPOTENCY_TABLE),
    ]
    return lambda lid: next((name for prefix, name in by_prefix if lid.startswith(prefix)), None)


class _Routed:
    """A client whose listed methods go to another client: the local pipeline runtime
    uses one SageMaker client both for what the pipeline does with its role (register a
    version) and for its own bookkeeping (read back what it registered)."""

    def __init__(self, default: Any, **methods: Callable[..., Any]) -> None:
        self._default, self._methods = default, methods

    def __getattr__(self, name: str) -> Any:
        return self._methods.get(name) or getattr(self._default, name)


@dataclass
class Audit:
    """Requests per role logical id, with the runtime that made them."""

    stage: StageTemplates
    platform: LocalPlatform
    recorder: CallRecorder
    kms_buckets: dict[str, str]
    runtimes: dict[str, str] = field(default_factory=dict)
    modelled: dict[str, list[Authorization]] = field(default_factory=dict)
    unmodelled: list[str] = field(default_factory=list)

    def client(self, role: str, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.platform.endpoint,
            region_name=REGION,
            aws_access_key_id=role,
            aws_secret_access_key="local",
        )

    def env(self, role: str, **extra: str) -> dict[str, str]:
        """The platform's environment with ``role``'s access key."""
        return {**self.platform.env, "AWS_ACCESS_KEY_ID": role, **extra}

    @contextlib.contextmanager
    def running_as(self, role: str, runtime: str, **extra: str) -> Iterator[None]:
        """In-process code under ``role``'s key: boto3's default session caches the
        credentials it first resolved, so it is dropped on the way in and out."""
        self.runtimes.setdefault(role, runtime)
        boto3.DEFAULT_SESSION = None
        try:
            with environment(self.env(role, **extra)):
                yield
        finally:
            boto3.DEFAULT_SESSION = None

    def role_of(self, arn: str) -> str:
        """The logical id of the stage's role that ``arn`` (a local ARN) names."""
        in_stage = arn.replace(f":{ACCOUNT}:", f":{self.stage.stage.account}:")
        found = [lid for lid, role in self.stage.role_arns().items() if role == in_stage]
        if len(found) != 1:
            raise LookupError(f"no synthesized role is {arn}: give it a local name")
        return found[0]

    def model(self, role: str, runtime: str, requests: list[Authorization]) -> None:
        self.runtimes.setdefault(role, runtime)
        self.modelled.setdefault(role, []).extend(requests)

    def results(self) -> list[RoleResult]:
        roles = self.stage.roles()
        account = self.stage.stage
        results = []
        for lid, role in roles.items():
            called = []
            for call in self.recorder.by(lid):
                try:
                    called += from_call(
                        call, account, local_account=ACCOUNT, kms_buckets=self.kms_buckets
                    )
                except UnmodelledCallError as error:
                    self.unmodelled.append(f"{lid}: {error}")
            requests = called + self.modelled.get(lid, [])
            results.append(decide(role, self.runtimes.get(lid, "(none)"), requests))
        return results


def _role(stage: StageTemplates, prefix: str) -> str:
    [found] = [lid for lid in stage.role_arns() if lid.startswith(prefix)]
    return found


def _function(stage: StageTemplates, stack: str, prefix: str) -> dict[str, Any]:
    """The parts of a function's definition the runtime and the modelling read."""
    [found] = [
        r["Properties"]
        for lid, r in stage.resources(stack, "AWS::Lambda::Function").items()
        if lid.startswith(prefix)
    ]
    parts = ("Environment", "LoggingConfig", "TracingConfig")
    return {k: stage.resolve(found[k], stack) for k in parts if k in found}


def _load(directory: Path) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return load_handler(directory)


def _invoke(handler: Any, event: dict[str, Any], name: str) -> dict[str, Any]:
    with contextlib.redirect_stdout(io.StringIO()):
        result: dict[str, Any] = handler.handler(
            event, lambda_context(region=REGION, account=ACCOUNT, function_name=name)
        )
    return result


def _lambda_service(audit: Audit, role: str, function: dict[str, Any], invocations: int) -> None:
    for _ in range(invocations):
        audit.model(
            role,
            "",
            lambda_invocation(
                audit.stage.stage,
                function,
                function["LoggingConfig"]["LogGroup"],
                "Lambda writes the invocation's logs and traces",
            ),
        )


# ---- the runtimes ---------------------------------------------------------------------


def _glue(audit: Audit, work: Path) -> Path:
    """Both Glue jobs on local Spark under the ETL role's key (their metrics are real
    calls); the zone reads and writes Spark does on files here are modelled as the S3
    requests the job would make, from the files it read and wrote."""
    role = _role(audit.stage, "EtlJobRole")
    schema = load_schema("churn")
    lake = LocalLake(work / "lake", aws_env=audit.env(role))
    batch = write_raw(
        schema, generate_clean(schema, ROWS, seed=31), lake.raw / "batch.csv", seed=31
    )
    zones = {"raw": RAW_BUCKET, "processed": PROCESSED_BUCKET, "curated": CURATED_BUCKET}

    def files() -> dict[Path, float]:
        return {p: p.stat().st_mtime for p in (work / "lake").rglob("*") if p.is_file()}

    def s3(path: Path) -> tuple[str, str]:
        zone, *key = path.relative_to(work / "lake").parts
        return zones[zone], "/".join(key)

    stage = audit.stage.stage
    origin = "Glue job reads and writes the zones (modelled from the local Spark run's files)"
    requests: list[Authorization] = []
    for job, run, inputs in [
        (
            "raw_to_processed",
            lambda: run_raw_to_processed(lake, DATASETS_DIR / "churn.json", batch.path, "csv"),
            [batch.path],
        ),
        (
            "processed_to_curated",
            lambda: run_processed_to_curated(lake, DATASETS_DIR / "churn.json"),
            None,
        ),
    ]:
        before = files()
        read = inputs or [
            p for p in before if lake.processed in p.parents and not p.name.startswith((".", "_"))
        ]
        with audit.running_as(
            role, "Glue jobs glue/raw_to_processed.py, glue/processed_to_curated.py"
        ):
            run()
        after = files()
        for path in read:
            bucket, key = s3(path)
            prefix = key.rsplit("/", 1)[0] + "/"
            requests.append(
                Authorization(
                    Request("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": [prefix]}),
                    origin,
                    f"{job} lists s3://{bucket}/{prefix}",
                )
            )
            requests += s3_key_requests(
                stage, "s3:GetObject", bucket, key, audit.kms_buckets, origin
            )
        for path in sorted(
            set(after) - set(before) | {p for p in after if p in before and after[p] != before[p]}
        ):
            requests += s3_key_requests(stage, "s3:PutObject", *s3(path), audit.kms_buckets, origin)
        for path in sorted(set(before) - set(after)):
            requests += s3_key_requests(
                stage, "s3:DeleteObject", *s3(path), audit.kms_buckets, origin
            )
    # What Glue does with the role for each run, from the job definitions.
    stack, _ = audit.stage.template("DataLake")
    for job in audit.stage.resources(stack, "AWS::Glue::Job").values():
        properties = audit.stage.resolve(job["Properties"], stack)
        arguments = properties["DefaultArguments"]
        defined = "Glue runs the job (from its synthesized definition)"
        code = [
            properties["Command"]["ScriptLocation"],
            arguments["--extra-py-files"],
            arguments["--schema_uri"],
        ]
        for uri in code:
            requests += s3_key_requests(
                stage, "s3:GetObject", *s3_uri_parts(uri), audit.kms_buckets, defined
            )
        if arguments.get("--enable-continuous-cloudwatch-log") == "true":
            group = f"/aws-glue/jobs/logs-v2-{properties['SecurityConfiguration']}"
            requests += log_stream(stage, group, "jr_0123456789abcdef", defined)
            group_arn = f"arn:aws:logs:{stage.region}:{stage.account}:log-group:{group}:*"
            requests.append(
                Authorization(
                    Request("logs:AssociateKmsKey", group_arn),
                    defined + ": its security configuration encrypts the logs",
                    group,
                )
            )
        if arguments.get("--job-bookmark-option") == "job-bookmark-enable":
            for action in ("kms:Encrypt", "kms:Decrypt"):
                requests.append(
                    Authorization(
                        Request(action, audit.kms_buckets[RAW_BUCKET]),
                        defined + ": CSE-KMS job bookmark",
                        "bookmark",
                    )
                )
    audit.model(role, "", requests)
    return lake.curated


def _pipeline(
    audit: Audit, work: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[LocalPipeline, list[tuple[str, str, dict[str, Any]]]]:
    """The pipeline installed, each step's job run under the role its request names
    (``RoleArn``), the pipeline's own reads and registration under the pipeline role."""
    jobs: list[tuple[str, str, dict[str, Any]]] = []
    steps = {
        "Processing": "pipeline processing steps: preprocess.py, baseline, evaluate.py, "
        "batch_input.py",
        "Training": "pipeline training step: train.py (XGBoost image)",
        "Transform": "batch transform: the model's container (the image's serving stack; "
        "S3 staged by the LOCAL stand-in)",
    }

    def recording(kind: str, runner: Callable[..., Any]) -> Callable[..., Any]:
        def run(arguments: dict[str, Any], **kwargs: Any) -> Any:
            # A transform job runs as its model's role (CreateModel's ExecutionRoleArn).
            passed = kwargs["model"]["ExecutionRoleArn"] if kind == "Transform" else None
            role = audit.role_of(passed or arguments["RoleArn"])
            audit.runtimes.setdefault(role, steps[kind])
            request = {**arguments, "RoleArn": passed or arguments["RoleArn"]}
            if kind == "Transform":  # the package whose image SageMaker pulls
                request["ModelPackageName"] = kwargs["model"]["PrimaryContainer"][
                    "ModelPackageName"
                ]
            jobs.append((kind, kwargs["job_name"], request))
            # SageMaker stages inputs and outputs, and runs the code, with the job's role.
            kwargs.update(env=audit.env(role), s3=audit.client(role, "s3"))
            return runner(arguments, **kwargs)

        return run

    monkeypatch.setattr(
        pipeline_runtime,
        "run_processing_job",
        recording("Processing", pipeline_runtime.run_processing_job),
    )
    monkeypatch.setattr(
        pipeline_runtime,
        "run_training_job",
        recording("Training", pipeline_runtime.run_training_job),
    )
    monkeypatch.setattr(
        pipeline_runtime,
        "run_transform_job",
        recording("Transform", pipeline_runtime.run_transform_job),
    )
    pipeline_role = _role(audit.stage, "TrainingPipelineRole")
    audit.runtimes[pipeline_role] = "SageMaker Pipelines running the synthesized definition"
    pipeline = LocalPipeline(
        audit.platform_definition,  # type: ignore[attr-defined]
        name=audit.platform.pipeline_name,
        # Registration is the pipeline's; the rest is the local runtime's bookkeeping.
        sagemaker=_Routed(
            audit.platform.sagemaker,
            create_model_package=audit.client(pipeline_role, "sagemaker").create_model_package,
        ),
        # What the pipeline itself reads with its role: the steps' property files.
        s3=audit.client(pipeline_role, "s3"),
        work_dir=work / "pipeline",
        env=audit.platform.env,
    )
    return pipeline, jobs


def _model_pipeline_service(
    audit: Audit, jobs: list[tuple[str, str, dict[str, Any]]], pipeline: str = "Training"
) -> None:
    """What SageMaker Pipelines does with ``pipeline``'s role for each job, and SageMaker
    with each job's role (a transform job's: its model's)."""
    pipeline_role = _role(audit.stage, f"{pipeline}PipelineRole")
    stage = audit.stage.stage
    for kind, name, request in jobs:
        job_role = audit.role_of(request["RoleArn"])
        in_stage = json.loads(json.dumps(request).replace(f":{ACCOUNT}:", f":{stage.account}:"))
        started = {k: v for k, v in in_stage.items() if kind != "Transform" or k != "RoleArn"}
        audit.model(
            pipeline_role,
            "",
            pipeline_step(stage, kind, name, started, "SageMaker Pipelines starts the step's job"),
        )
        origin = "SageMaker runs the job with the job role"
        if kind == "Transform":
            package = audit.platform.sagemaker.describe_model_package(
                ModelPackageName=request["ModelPackageName"]
            )
            image = package["InferenceSpecification"]["Containers"][0]["Image"]
            found = image_pull(stage, image, origin)
            found += log_stream(stage, "/aws/sagemaker/TransformJobs", f"{name}/i-0123", origin)
            found.append(
                volume_grant(stage, in_stage["TransformResources"]["VolumeKmsKeyId"], origin)
            )
            audit.model(job_role, "", found)
            continue
        audit.model(job_role, "", sagemaker_job(stage, kind.lower(), name, in_stage, origin))


def _batch_scoring(
    audit: Audit,
    cdk_out: Path,
    work: Path,
    jobs: list[tuple[str, str, dict[str, Any]]],
    curated_rows: int,
) -> None:
    """The batch scoring pipeline started by its schedule's role, its own calls (the
    model it creates, the property file it reads) under the pipeline role, its jobs
    under theirs; the curated rows come out scored once each."""
    stage, platform = audit.stage, audit.platform
    template = load_pipeline_template(cdk_out, STAGE, construct="Batch")
    definition = platform.install_batch(template)
    role = _role(stage, "BatchPipelineRole")
    audit.runtimes[role] = "SageMaker Pipelines running the batch scoring definition"
    pipeline = LocalPipeline(
        definition,
        name=template.name,
        sagemaker=_Routed(
            platform.sagemaker, create_model=audit.client(role, "sagemaker").create_model
        ),
        s3=audit.client(role, "s3"),
        work_dir=work / "batch",
        env=platform.env,
    )
    schedule_role = _role(stage, "BatchScheduleRole")
    started = audit.client(schedule_role, "sagemaker").start_pipeline_execution(
        PipelineName=template.name
    )
    before = len(jobs)
    execution = pipeline.execute(execution_arn=started["PipelineExecutionArn"])
    assert execution.status == "Succeeded", execution.failure_reason
    scored = execution.step("Score").detail
    assert scored["records"] == curated_rows, scored  # one line per curated row
    batch_jobs = jobs[before:]
    del jobs[before:]
    _model_pipeline_service(audit, batch_jobs, pipeline="Batch")


@pytest.fixture(scope="module")
def audit(synth_report, spark, tmp_path_factory) -> Iterator[Audit]:
    cdk_out = synth_report.assembly_dir
    work = tmp_path_factory.mktemp("least-privilege")
    monkeypatch = pytest.MonkeyPatch()
    recorder = CallRecorder()
    with recorder.recording(), local_platform() as platform:
        template = load_pipeline_template(cdk_out, STAGE)
        platform.s3.create_bucket(Bucket=RAW_BUCKET)
        empty = work / "empty"
        empty.mkdir()
        definition = platform.install(template, empty)
        [key] = platform.client("kms").list_keys()["Keys"]
        ssm = platform.client("ssm")

        def deployed(name: str) -> str | None:
            """What CloudFormation would read from SSM: the values promotion recorded."""
            try:
                return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
            except ssm.exceptions.ParameterNotFound:
                return None

        stage = StageTemplates(
            cdk_out, STAGE, names=_local_names(key["KeyId"]), parameters=deployed
        )
        data_lake, _ = stage.template("DataLake")
        kms_buckets = {
            stage.physical_name(data_lake, lid): stage.resolve(
                r["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
                    "ServerSideEncryptionByDefault"
                ]["KMSMasterKeyID"],
                data_lake,
            )
            for lid, r in stage.resources(data_lake, "AWS::S3::Bucket").items()
            if "KMSMasterKeyID" in json.dumps(r["Properties"].get("BucketEncryption", {}))
        }
        found = Audit(stage=stage, platform=platform, recorder=recorder, kms_buckets=kms_buckets)
        found.platform_definition = definition  # type: ignore[attr-defined]
        _run_lifecycle(found, cdk_out, work, monkeypatch)
        yield found
    monkeypatch.undo()


def _run_lifecycle(audit: Audit, cdk_out: Path, work: Path, monkeypatch) -> None:
    stage, platform = audit.stage, audit.platform
    account = stage.stage

    # -- ETL, then the training pipeline started by its schedule ------------------------
    curated = _glue(audit, work)
    platform.publish_curated(curated)
    pipeline, jobs = _pipeline(audit, work, monkeypatch)
    schedule_role = _role(stage, "TrainingScheduleRole")
    audit.runtimes[schedule_role] = (
        "EventBridge Scheduler starting the pipeline (its StartPipelineExecution is a real call)"
    )
    started = audit.client(schedule_role, "sagemaker").start_pipeline_execution(
        PipelineName=platform.pipeline_name
    )
    first = pipeline.execute(execution_arn=started["PipelineExecutionArn"])
    assert first.status == "Succeeded", first.failure_reason
    version = first.model_package_arn
    platform.sagemaker.update_model_package(ModelPackageArn=version, ModelApprovalStatus="Approved")

    # -- promotion of the approved version ----------------------------------------------
    ml_stack, _ = stage.template("MlPipeline")
    promotion_role = _role(stage, "PromotionRole")
    function = _function(stage, ml_stack, "PromotionFunction")
    variables = function["Environment"]["Variables"]
    platform.client("ssm").put_parameter(
        Name=variables["MODEL_VERSION_PARAMETER"],
        Value=variables["NO_MODEL_VERSION"],
        Type="String",
    )
    _delivery_pipeline(platform, variables["DELIVERY_PIPELINE_NAME"])
    event = {
        "version": "0",
        "id": "844e2571-85d4-695f-b930-0153b71dcb42",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2026-12-01T17:00:14Z",
        "region": REGION,
        "resources": [version],
        "detail": {
            "ModelPackageGroupName": platform.model_package_group,
            "ModelPackageVersion": int(str(version).rsplit("/", 1)[1]),
            "ModelPackageArn": version,
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": "Approved",
        },
    }
    with audit.running_as(promotion_role, "lambda/model_promotion", **variables):
        outcome = _invoke(_load(PROMOTION_DIR), event, "model-promotion")
    assert outcome["decision"] == "promoted", outcome
    _lambda_service(audit, promotion_role, function, 1)

    # -- the endpoint serving it (modelled from the Serving template) -------------------
    _model_endpoint(audit, str(version))

    # -- batch scoring of the curated zone with the approved version --------------------
    _batch_scoring(audit, cdk_out, work, jobs, len(pd.read_parquet(curated)))

    # -- traffic, the monitor launcher, the monitor job ----------------------------------
    monitoring, _ = stage.template("Monitoring")
    launcher_fn = _function(stage, monitoring, "MonitorLauncherFunction")
    request_template = json.loads(launcher_fn["Environment"]["Variables"]["JOB_REQUEST"])
    endpoint = request_template["AppSpecification"]["ContainerArguments"][
        request_template["AppSpecification"]["ContainerArguments"].index("--endpoint-name") + 1
    ]
    schema = load_schema("churn")
    frame = generate_clean(schema, 400, seed=41)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    captured = list(captured_rows(schema, frame, seed=41, start=start))
    hour = f"{start:%Y/%m/%d/%H}"
    platform.s3.put_object(
        Bucket=ARTIFACTS_BUCKET,
        Key=f"{DATA_CAPTURE_PREFIX}/{endpoint}/{VARIANT_NAME}/{hour}/capture.jsonl",
        Body="\n".join(r.line for r in captured).encode(),
    )
    platform.s3.put_object(
        Bucket=ARTIFACTS_BUCKET,
        Key=f"{GROUND_TRUTH_PREFIX}/{endpoint}/{hour}/labels.jsonl",
        Body="\n".join(ground_truth_line(r.event_id, r.label) for r in captured).encode(),
    )
    launcher_role = _role(stage, "MonitorLauncherRole")
    schedule_name = stage.resources(monitoring, "AWS::Scheduler::Schedule")
    [schedule] = schedule_name.values()
    launch_event = {
        "scheduled_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "schedule_arn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/"
        f"{schedule['Properties']['Name']}",
        "execution_id": "local1",
        "attempt": "1",
    }
    with audit.running_as(
        launcher_role, "lambda/monitor_launcher", **launcher_fn["Environment"]["Variables"]
    ):
        decided = _invoke(_load(LAUNCHER_DIR), launch_event, "monitor-launcher")
    assert decided["decision"] == "started", decided
    _lambda_service(audit, launcher_role, launcher_fn, 1)
    monitor_role = _role(stage, "MonitorJobRole")
    audit.runtimes[monitor_role] = "monitoring/monitor.py (the job the launcher started)"
    job = decided["request"]
    run_processing_job(
        job,
        job_name=job["ProcessingJobName"],
        work_dir=work / "monitor",
        s3=audit.client(monitor_role, "s3"),
        env=audit.env(monitor_role),
    )
    in_stage = json.loads(json.dumps(job).replace(f":{ACCOUNT}:", f":{account.account}:"))
    audit.model(
        monitor_role,
        "",
        sagemaker_job(
            account,
            "processing",
            job["ProcessingJobName"],
            in_stage,
            "SageMaker runs the monitor job with its role",
        ),
    )
    # The next scheduled run: nothing new since the checkpoint the job wrote.
    later = datetime.now(UTC) + timedelta(hours=1)
    launch_event = {
        **launch_event,
        "scheduled_time": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "execution_id": "local2",
    }
    with audit.running_as(launcher_role, "", **launcher_fn["Environment"]["Variables"]):
        again = _invoke(_load(LAUNCHER_DIR), launch_event, "monitor-launcher")
    assert again["decision"] != "started", again
    _lambda_service(audit, launcher_role, launcher_fn, 1)
    _model_schedules(audit)

    # -- the drift alarm -> retrain trigger -> the second execution -----------------------
    retrain_role = _role(stage, "RetrainRole")
    retrain_fn = _function(stage, monitoring, "RetrainFunction")
    platform.client("dynamodb").create_table(
        TableName=IDEMPOTENCY_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    alarms = load_alarms(cdk_out, STAGE)
    drift = next(a for name, a in alarms.items() if name.endswith("-drift"))
    now = datetime.now(UTC)
    alarm_event = state_change_event(
        drift,
        StateRecord("OK", "Threshold Crossed", now - timedelta(hours=1)),
        StateRecord("ALARM", "Threshold Crossed", now),
        account=ACCOUNT,
        region=REGION,
    )
    # LOCAL time shift, as in make run: v1 was trained seconds ago, not hours.
    variables = {**retrain_fn["Environment"]["Variables"], "COOLDOWN_MINUTES": "0"}
    with audit.running_as(retrain_role, "lambda/retrain_trigger", **variables):
        handler = _load(LAMBDA_DIR)  # Powertools reads its settings at import
        due = _invoke(handler, alarm_event, "retrain-trigger")
    assert due["decision"] == "waiting_for_curated", due
    # The curated job's run (Glue's own record of it) and its success event.
    curated_job = variables["CURATED_JOB_NAME"]
    run_id = start_run(platform.client("glue"), curated_job)
    with audit.running_as(retrain_role, "lambda/retrain_trigger", **variables):
        retrained = _invoke(handler, glue_state_change(curated_job, run_id), "retrain-trigger")
    assert retrained["decision"] == "started", retrained
    _lambda_service(audit, retrain_role, retrain_fn, 2)
    second = pipeline.execute(execution_arn=retrained["execution_arn"])
    assert second.status == "Succeeded", second.failure_reason
    _model_pipeline_service(audit, jobs)


def _delivery_pipeline(platform: LocalPlatform, name: str) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "codepipeline.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = platform.client("iam").create_role(
        RoleName="delivery", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    action = {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}
    platform.client("codepipeline").create_pipeline(
        pipeline={
            "name": name,
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": ARTIFACTS_BUCKET},
            "stages": [
                {"name": "Source", "actions": [{"name": "Source", "actionTypeId": action}]},
                {"name": "Deploy", "actions": [{"name": "Deploy", "actionTypeId": action}]},
            ],
        }
    )


def _model_endpoint(audit: Audit, version: str) -> None:
    """What SageMaker does with the model's role: pull the image, read the model
    artifact, grant the volume key, write capture and logs (the model package the
    Serving stack deploys is the one the pipeline registered and promotion recorded)."""
    stage = audit.stage
    serving, _ = stage.template("Serving")
    role = _role(stage, "EndpointModelRole")
    audit.runtimes[role] = "the endpoint's model (SageMaker hosting; modelled)"
    package = audit.platform.sagemaker.describe_model_package(ModelPackageName=version)
    container = package["InferenceSpecification"]["Containers"][0]
    [config] = [
        stage.resolve(r["Properties"], serving)
        for r in stage.resources(serving, "AWS::SageMaker::EndpointConfig").values()
    ]
    [endpoint] = [
        stage.resolve(r["Properties"], serving)
        for r in stage.resources(serving, "AWS::SageMaker::Endpoint").values()
    ]
    name, s = endpoint["EndpointName"], stage.stage
    origin = "SageMaker hosting with the model's role (modelled from the Serving template)"
    requests = image_pull(s, container["Image"], origin)
    requests += s3_key_requests(
        s, "s3:GetObject", *s3_uri_parts(container["ModelDataUrl"]), audit.kms_buckets, origin
    )
    if config.get("KmsKeyId"):
        requests.append(volume_grant(s, config["KmsKeyId"], origin))
    capture = config["DataCaptureConfig"]
    bucket, prefix = s3_uri_parts(capture["DestinationS3Uri"])
    key = f"{prefix}/{name}/{VARIANT_NAME}/2026/12/01/17/capture.jsonl"
    for action in ("s3:PutObject",):
        requests += [a for a in s3_key_requests(s, action, bucket, key, {}, origin)]
    requests.append(
        Authorization(
            Request(
                "kms:GenerateDataKey",
                capture["KmsKeyId"],
                {"kms:ViaService": [f"s3.{s.region}.amazonaws.com"]},
            ),
            origin + ": capture KmsKeyId",
            key,
        )
    )
    requests += log_stream(
        s, f"/aws/sagemaker/Endpoints/{name}", f"{VARIANT_NAME}/i-0123456789abcdef0", origin
    )
    audit.model(role, "", requests)


def _model_schedules(audit: Audit) -> None:
    """The roles EventBridge and Scheduler assume to reach their targets (no code of ours
    runs under them): each target's invocation, from the synthesized rule or schedule."""
    stage = audit.stage
    roles = stage.role_arns()
    for stack in stage.templates:
        for kind in ("AWS::Scheduler::Schedule", "AWS::Events::Rule"):
            for resource in stage.resources(stack, kind).values():
                properties = stage.resolve(resource["Properties"], stack)
                targets = (
                    [properties["Target"]]
                    if kind == "AWS::Scheduler::Schedule"
                    else properties.get("Targets", [])
                )
                for target in targets:
                    if "RoleArn" not in target:
                        continue
                    [role] = [lid for lid, arn in roles.items() if arn == target["RoleArn"]]
                    arn = target["Arn"]
                    service = arn.split(":")[2]
                    action = {
                        "lambda": "lambda:InvokeFunction",
                        "glue": "glue:notifyEvent",
                        "sagemaker": "sagemaker:StartPipelineExecution",
                    }[service]
                    invoker = (
                        "EventBridge Scheduler"
                        if kind.startswith("AWS::Scheduler")
                        else "EventBridge rule"
                    )
                    audit.model(
                        role,
                        f"{invoker} -> {arn.split(':')[-1]} (modelled)",
                        [Authorization(Request(action, arn), f"{invoker} invokes its target", arn)],
                    )


# ---- the proof ------------------------------------------------------------------------


def test_every_role_is_exercised_and_nothing_it_does_is_denied(audit: Audit) -> None:
    results = audit.results()
    table = markdown_table(results)
    print("\n" + table)
    destination = os.environ.get("LEAST_PRIVILEGE_TABLE")
    if destination:
        Path(destination).write_text(table + "\n")
    assert audit.unmodelled == [], "recorded calls without an IAM rule"
    unexercised = [r.role.logical_id for r in results if not r.decided]
    assert unexercised == [], f"roles no runtime of the test exercised: {unexercised}"
    denials = "\n".join(describe_denials(r) for r in results if r.denied)
    assert denials == "", f"requests the synthesized policies deny:\n{denials}"


def test_the_runtimes_own_calls_are_recorded_under_their_roles(audit: Audit) -> None:
    """The recorded calls are the runtimes' (not modelled): each code runtime made some."""
    results = {r.role.logical_id: r for r in audit.results()}
    for prefix in (
        "EtlJobRole",
        "TrainingJobRole",
        "TrainingPipelineRole",
        "PromotionRole",
        "MonitorLauncherRole",
        "MonitorJobRole",
        "RetrainRole",
        "TrainingScheduleRole",
    ):
        [role] = [lid for lid in results if lid.startswith(prefix)]
        assert results[role].actions(called=True), f"{role} made no recorded call"
    retrain = results[_role(audit.stage, "RetrainRole")]
    assert "sagemaker:StartPipelineExecution" in retrain.actions(called=True)


def test_a_call_outside_the_policy_is_denied(audit: Audit) -> None:
    """The harness can fail: the monitor job's role may not read the curated zone, nor
    overwrite a registered model artifact."""
    role = audit.stage.roles()[_role(audit.stage, "MonitorJobRole")]
    outside = [
        Authorization(
            Request("s3:GetObject", f"arn:aws:s3:::{CURATED_BUCKET}/data/part-0.parquet"),
            CALLED,
            "x",
        ),
        Authorization(
            Request(
                "s3:PutObject",
                f"arn:aws:s3:::{ARTIFACTS_BUCKET}/pipeline-runs/1/train/output/model.tar.gz",
            ),
            CALLED,
            "y",
        ),
    ]
    result = decide(role, "probe", outside)
    assert len(result.denied) == 2
