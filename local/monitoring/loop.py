"""``make run``'s monitoring loop: shifted traffic -> monitor -> alarm -> rule -> retrain
trigger -> pipeline -> v2 trained with the feedback data.

Real parts: the endpoint (the XGBoost image's serving stack; the service front writes
capture), the monitor launcher handler (it decides on moto whether there is new data and
starts the job), the monitor entry point run from the source bundle exactly as the
CreateProcessingJob request the launcher sent says, the Glue ETL, the retrain handler
against moto (DynamoDB, SageMaker), and the pipeline runtime. LOCAL stand-ins, labelled
in the output: CloudWatch alarm evaluation (``alarms``), EventBridge pattern matching
(``event_patterns``), delivery to the functions (``retrain_function``) and the schedule's
invocation of the launcher.

Time is the one thing bent, and the output says so: the schedule runs the monitor once
an hour, and the drift alarm needs 2 of 3 hourly periods, but here the runs are minutes
apart. So before the evaluation after run k, the value each earlier run j published is
also put one period earlier per run between them (its scheduled slot). The values are
the ones the monitor published; only their timestamps are moved. Likewise v1 was trained
minutes before the alarm, not hours, so the handler runs with COOLDOWN_MINUTES=0 instead
of the synthesized value (which would skip, as it should, a retrain that soon).
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from config.layout import DATA_CAPTURE_PREFIX, FEEDBACK_PREFIX, GROUND_TRUTH_PREFIX
from config.schema import DatasetSchema
from features.packaged_model import load_packaged
from features.quality import quality_report
from glue.derive import CuratedCounts
from glue.validate import ProcessedCounts
from local.cdk_assembly import StageAssembly
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from local.lake.synthetic import feature_records
from local.monitoring.alarms import AlarmDefinition, Transition, evaluate_in_cloudwatch, load_alarms
from local.monitoring.assembly import (
    function_environment,
    monitoring_template,
    schedule_name,
    stack_assets,
)
from local.monitoring.event_patterns import matching_rules, stage_rule_patterns
from local.monitoring.glue_events import start_run
from local.monitoring.retrain_function import LAUNCHER_DIR, deliver, lambda_context, load_handler
from local.monitoring.shifted_traffic import (
    feature_lines,
    ground_truth_for_capture,
    labels_by_request,
    shifted_frame,
)
from local.moto_platform import (
    ACCOUNT,
    ARTIFACTS_BUCKET,
    RAW_BUCKET,
    REGION,
    LocalPlatform,
    environment,
)
from local.pipeline.pipeline_runtime import Execution, LocalPipeline
from local.pipeline.sagemaker_jobs import run_processing_job
from local.s3_sync import download_prefix, split_uri
from local.service_metrics import LOCAL_NAMES, local_name
from local.serving.endpoint_run import invoke, wait_for_capture
from local.serving.load_client import Request
from monitoring.paired_comparison import compare

EVENT_LABEL = "[local stand-in: EventBridge event-pattern matching]"
IDEMPOTENCY_TABLE = "local-retrain-idempotency"
# v1's execution started minutes before the alarm, not hours: with the synthesized
# cooldown the handler would (rightly) skip. Time is compressed here as for the schedule.
COOLDOWN_OVERRIDE = {"COOLDOWN_MINUTES": "0"}
# The processed-to-curated job's local name (its events name it so).
CURATED_JOB = LOCAL_NAMES["EtlProcessedToCuratedJob"]


@dataclass
class MonitorRun:
    """One scheduled run of the monitor: its job, what it found, when it published."""

    job_name: str
    published_at: datetime
    summary: dict[str, Any]
    report: Path
    report_uri: str
    runtime: dict[str, str] = field(default_factory=dict)


@dataclass
class LoopState:
    """What the loop carries from one step to the next."""

    shift: dict[str, float]
    runs: list[MonitorRun] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    restamped: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    requests_sent: int = 0
    handler: Any = None  # the retrain trigger module, loaded once as a container would
    launcher: Any = None  # the monitor launcher module, likewise


def local_names(platform: LocalPlatform, key_arn: str) -> Callable[[str], str | None]:
    """Local values for the deploy-time names in the Monitoring template: the data lake's
    exports, the job role and the idempotency table."""
    by_fragment = [
        ("ArtifactsBucketName", ARTIFACTS_BUCKET),
        ("RawBucketName", RAW_BUCKET),
        ("KeyArn", key_arn),
        ("MonitorJobRole", f"arn:aws:iam::{ACCOUNT}:role/local-monitor-job"),
        ("RetrainIdempotencyTable", IDEMPOTENCY_TABLE),
        ("CuratedJobName", CURATED_JOB),
    ]

    def lookup(name: str) -> str | None:
        return next((value for fragment, value in by_fragment if fragment in name), None)

    return lookup


@dataclass
class MonitoringLoop:
    """The loop's parts, wired to one local platform and one synthesized stage."""

    platform: LocalPlatform
    pipeline: LocalPipeline
    schema: DatasetSchema
    schema_path: Path
    lake: LocalLake
    cdk_out: Path
    work_dir: Path
    endpoint_name: str
    stage: str = "Dev"
    seed: int = 11

    def __post_init__(self) -> None:
        self.template = monitoring_template(self.cdk_out, self.stage)
        self.cloudwatch = self.platform.client("cloudwatch")
        self.s3 = self.platform.s3
        self.s3.create_bucket(Bucket=RAW_BUCKET)
        for (bucket, key), path in stack_assets(self.template).items():
            with contextlib.suppress(self.s3.exceptions.BucketAlreadyOwnedByYou):
                self.s3.create_bucket(Bucket=bucket)
            self.s3.upload_file(str(path), bucket, key)
        key_arn = self.platform.client("kms").create_key(Description="local monitor key")
        self.names = local_names(self.platform, key_arn["KeyMetadata"]["Arn"])
        alarms = load_alarms(self.cdk_out, self.stage)
        # The feature drift alarm (the model-drift alarms' names end in "-drift" too).
        self.drift_alarm: AlarmDefinition = next(
            a for a in alarms.values() if a.metric_name == "FeaturesDrifted"
        )

    # ---- traffic and ground truth -------------------------------------------------

    def _capture_lines(self) -> list[bytes]:
        prefix = f"{DATA_CAPTURE_PREFIX}/{self.endpoint_name}/"
        lines: list[bytes] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=ARTIFACTS_BUCKET, Prefix=prefix):
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=ARTIFACTS_BUCKET, Key=item["Key"])["Body"]
                lines += body.read().splitlines()
        return lines

    def send_window(
        self,
        host: str,
        port: int,
        state: LoopState,
        *,
        window: int,
        rows: int,
        frame: pd.DataFrame | None = None,
    ) -> dict[str, Any]:
        """Send one window of shifted rows (one CSV request each), or of ``frame``'s rows
        (the user's held-out rows, typed); once their capture is in S3, upload their
        labels as ground truth joined by the capture's eventId."""
        if frame is None:
            frame = shifted_frame(self.schema, rows, seed=self.seed + window, shift=state.shift)
        bodies = feature_lines(self.schema, frame)
        responses = invoke(
            self.platform,
            host,
            port,
            self.endpoint_name,
            [Request(b.encode(), "text/csv") for b in bodies],
        )
        ok = sum(200 <= r.status < 300 for r in responses)
        state.requests_sent += ok
        state.labels.update(labels_by_request(self.schema, frame))
        lines = wait_for_capture(
            self._capture_lines,
            lambda seen: len(ground_truth_for_capture(seen, state.labels)) >= state.requests_sent,
            lambda seen: (
                f"capture holds {len(seen)} records, {state.requests_sent} labelled "
                "requests were answered"
            ),
        )
        window_labels = labels_by_request(self.schema, frame)
        truth = ground_truth_for_capture(lines, window_labels)
        now = datetime.now(UTC)
        key = (
            f"{GROUND_TRUTH_PREFIX}/{self.endpoint_name}/{now:%Y/%m/%d/%H}/"
            f"labels-window-{window}.jsonl"
        )
        self.s3.put_object(
            Bucket=ARTIFACTS_BUCKET, Key=key, Body=("\n".join(truth) + "\n").encode()
        )
        return {
            "window": window,
            "requests": len(responses),
            "requests_ok": ok,
            "ground_truth_labels": len(truth),
            "ground_truth_uri": f"s3://{ARTIFACTS_BUCKET}/{key}",
        }

    # ---- the monitor, as the schedule runs it ---------------------------------------

    def run_monitor(self, state: LoopState) -> MonitorRun:
        """One schedule invocation: the monitor launcher handler, with the synthesized
        function's environment (local names), decides on moto and starts the job; the job
        it started is run from the source bundle by the local processing-job runner."""
        run_number = len(state.runs) + 1
        env = {
            **self.platform.env,
            **function_environment(self.template, self.names, name_prefix="MonitorLauncher"),
        }
        log = self.work_dir / "monitor-launcher.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        if state.launcher is None:
            # Powertools' Logger binds stdout at import: bind it to nothing that closes.
            with environment(env), contextlib.redirect_stdout(io.StringIO()):
                state.launcher = load_handler(LAUNCHER_DIR)
        # What Scheduler puts into the schedule's input (its context attributes).
        event = {
            "scheduled_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "schedule_arn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/"
            f"{schedule_name(self.template)}",
            "execution_id": f"local{run_number}",
            "attempt": "1",
        }
        context = lambda_context(region=REGION, account=ACCOUNT, function_name="monitor-launcher")
        with environment(env):
            # As Lambda runs it: its Invocations/Errors/Duration and what it printed (EMF,
            # the heartbeat included) reach CloudWatch.
            decided = deliver(state.launcher, event, context, cloudwatch=self.cloudwatch, log=log)
        with log.open("a") as out:
            # The decision and why, next to the metric the handler printed (EMF).
            out.write(json.dumps({k: v for k, v in decided.items() if k != "request"}) + "\n")
        if decided["decision"] != "started":
            raise RuntimeError(f"the monitor launcher started no job: {decided['reason']}")
        request: dict[str, Any] = decided["request"]
        job_name = request["ProcessingJobName"]
        job = run_processing_job(
            request,
            job_name=job_name,
            work_dir=self.work_dir / "monitor",
            s3=self.s3,
            env=self.platform.env,
        )
        published_at = datetime.now(UTC)
        output = self.work_dir / "monitor" / job_name / "opt/ml/processing/output"
        summary = json.loads((output / "summary.json").read_text())
        [reports] = request["ProcessingOutputConfig"]["Outputs"]
        run = MonitorRun(
            job_name=job_name,
            published_at=published_at,
            summary=summary,
            report=output / Path(summary["report"]).name,
            report_uri=reports["S3Output"]["S3Uri"] + Path(summary["report"]).name,
            runtime=job.runtime,
        )
        state.runs.append(run)
        return run

    # ---- the alarm (LOCAL stand-in) -------------------------------------------------

    def _published(self, run: MonitorRun) -> float:
        """The drift alarm's metric value that ``run`` published (read back from CloudWatch)."""
        alarm = self.drift_alarm
        response = self.cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "m1",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": alarm.namespace,
                            "MetricName": alarm.metric_name,
                            "Dimensions": [
                                {"Name": k, "Value": v} for k, v in alarm.dimensions.items()
                            ],
                        },
                        "Period": 60,
                        "Stat": alarm.statistic,
                    },
                }
            ],
            StartTime=run.published_at - timedelta(minutes=10),
            EndTime=run.published_at + timedelta(minutes=1),
            ScanBy="TimestampDescending",
        )
        values = response["MetricDataResults"][0]["Values"]
        if not values:
            raise RuntimeError(f"{run.job_name} published no {alarm.metric_name} datapoint")
        return float(values[0])

    def restamp_earlier_runs(self, state: LoopState) -> list[dict[str, Any]]:
        """Put each earlier run's published value at its scheduled slot: one alarm period
        earlier per run since (LOCAL time shift, see the module docstring)."""
        alarm = self.drift_alarm
        dimensions = [{"Name": k, "Value": v} for k, v in alarm.dimensions.items()]
        latest = state.runs[-1].published_at
        added = []
        for age, run in enumerate(reversed(state.runs[:-1]), start=1):
            if any(r["job"] == run.job_name for r in state.restamped):
                continue  # already at its slot
            value = self._published(run)
            slot = latest - timedelta(seconds=age * alarm.period)
            self.cloudwatch.put_metric_data(
                Namespace=alarm.namespace,
                MetricData=[
                    {
                        "MetricName": alarm.metric_name,
                        "Dimensions": dimensions,
                        "Timestamp": slot,
                        "Value": value,
                    }
                ],
            )
            added.append(
                {
                    "job": run.job_name,
                    "value": value,
                    "published_at": run.published_at.isoformat(),
                    "slot": slot.isoformat(),
                }
            )
        state.restamped += added
        return added

    def evaluate_alarm(self, state: LoopState) -> Transition:
        """The synthesized drift alarm evaluated as CloudWatch would, now (LOCAL stand-in)."""
        alarm = self.drift_alarm
        transition = evaluate_in_cloudwatch(
            self.cloudwatch, alarm, now=datetime.now(UTC), account=ACCOUNT, region=REGION
        )
        state.transitions.append(transition)
        return transition

    # ---- rule and retrain trigger (LOCAL stand-ins for delivery) ---------------------

    def matching_rules(self, event: dict[str, Any]) -> list[str]:
        """Logical ids of the synthesized rules whose EventPattern matches ``event``."""
        # Resources across the stage's stacks by the names the local runtime gives them
        # (a Glue job's events name it as the local ETL runs it).
        assembly = StageAssembly(self.cdk_out, self.stage, names=local_name)
        return matching_rules(event, stage_rule_patterns(assembly, "Monitoring"))

    def invoke_trigger(self, event: dict[str, Any], handler: Any, log: Path) -> dict[str, Any]:
        """The real handler with the synthesized function's environment (local names),
        against moto; its logs (JSON on stdout) go to ``log``, Lambda's metrics and the
        ones it logged (EMF) to CloudWatch (``retrain_function.deliver``)."""
        with environment(self.function_env()):
            return deliver(
                handler,
                event,
                lambda_context(region=REGION, account=ACCOUNT),
                cloudwatch=self.cloudwatch,
                log=log,
            )

    def trigger(self) -> Any:
        """The handler module, loaded fresh with the idempotency table created on moto."""
        dynamodb = self.platform.client("dynamodb")
        dynamodb.create_table(
            TableName=IDEMPOTENCY_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        # Powertools reads its settings (service, metrics namespace) at import.
        with environment(self.function_env()), contextlib.redirect_stdout(io.StringIO()):
            return load_handler()

    def function_env(self) -> dict[str, str]:
        """The function's synthesized environment (local names) over the platform's, with
        the cooldown compressed like the schedule (``COOLDOWN_OVERRIDE``)."""
        synthesized = function_environment(self.template, self.names)
        return {**self.platform.env, **synthesized, **COOLDOWN_OVERRIDE}

    def synthesized_cooldown(self) -> str:
        return function_environment(self.template, self.names)["COOLDOWN_MINUTES"]

    def executions(self) -> int:
        listing = self.platform.sagemaker.list_pipeline_executions(
            PipelineName=self.platform.pipeline_name
        )
        return len(listing["PipelineExecutionSummaries"])

    # ---- feedback through the ETL, then the started execution -------------------------

    def feedback_to_curated(self) -> tuple[list[ProcessedCounts], CuratedCounts, str]:
        """The monitor's feedback batches (raw zone, incoming/feedback/) through the same
        Glue jobs into curated, and curated republished where the pipeline reads it; the
        curated job's run id (recorded in moto's Glue: ``glue_events``)."""
        folder = self.lake.raw / FEEDBACK_PREFIX.removeprefix("incoming/").strip("/")
        files = download_prefix(self.s3, f"s3://{RAW_BUCKET}/{FEEDBACK_PREFIX}", folder)
        if not files:
            raise RuntimeError(f"no feedback batch under s3://{RAW_BUCKET}/{FEEDBACK_PREFIX}")
        processed = [
            run_raw_to_processed(self.lake, self.schema_path, path, "csv")
            for path in sorted(folder.glob("*.csv"))
        ]
        run_id = start_run(self.platform.client("glue"), CURATED_JOB)
        curated = run_processed_to_curated(self.lake, self.schema_path)
        self.platform.publish_curated(self.lake.curated)
        return processed, curated, run_id

    def run_started_execution(self, execution_arn: str) -> Execution:
        return self.pipeline.execute(execution_arn=execution_arn)

    # ---- v1 vs v2 on the same held-out shifted rows ----------------------------------

    def score_on_holdout(
        self,
        model_data: Mapping[int, str],
        state: LoopState,
        rows: int,
        frame: pd.DataFrame | None = None,
    ) -> dict[str, Any]:
        """Each version's metrics on the same held-out shifted rows, or on ``frame``'s
        rows (never sent, never trained on), scored with its own packaged transformation."""
        if frame is None:
            frame = shifted_frame(self.schema, rows, seed=self.seed + 100, shift=state.shift)
        rows = len(frame)
        records = feature_records(self.schema, frame)
        labels = frame[self.schema.target.name].to_numpy()
        scores: dict[str, Any] = {"rows": rows, "seed": self.seed + 100}
        predicted: dict[int, Any] = {}
        for version, uri in model_data.items():
            bucket, key = split_uri(uri)
            with tempfile.TemporaryDirectory() as scratch:
                archive = Path(scratch) / "model.tar.gz"
                self.s3.download_file(bucket, key, str(archive))
                if not tarfile.is_tarfile(archive):
                    raise RuntimeError(f"{uri} is not a model archive")
                booster, transform = load_packaged(archive)
            predictions = booster.inplace_predict(transform.encode(transform.parse_rows(records)))
            predicted[version] = predictions
            report = quality_report(
                self.schema.problem_type, labels, predictions, self.schema.target.classes
            )
            scores[f"v{version}"] = {
                name: round(float(value["value"]), 4)
                for group in report.values()
                for name, value in group.items()
                if isinstance(value, dict) and "value" in value
            }
        if len(predicted) == 2:  # the newest as the challenger of the one before it
            champion, challenger = (predicted[v] for v in sorted(predicted))
            verdict = compare(self.schema.problem_type, labels, champion, challenger)
            scores["paired"] = verdict.as_dict() | {"line": verdict.line()}
        return scores
