"""Whether a scheduled monitor run has anything to read, and starting its job if so.

Plain functions over explicit inputs (settings, the parsed event, an S3 client, a
SageMaker client), so tests call them directly; ``handler.py`` only wires Powertools
around them.

"New data" is decided by the monitor's own rule: ``features/checkpoint.py`` ships in
this function's code asset (stacks/constructs/monitor_launcher.py), and an object is new
exactly when the monitor's next run would read it (``StreamState.select`` over the same
``.jsonl`` listing, ``features/s3_objects.py``). So a skipped run is one whose job would
have read nothing, and nothing the monitor would read is left waiting.

Decisions, in the order they are checked:
- ``skipped_no_new_data``: no capture and no ground truth the monitor has not consumed;
- ``skipped_already_started``: this scheduled run's job exists (a retried or duplicated
  invocation: the job name is derived from the scheduled time, so both name the same job);
- ``started``: CreateProcessingJob was called with the rendered request.
``rejected_malformed`` is the handler's: the event never reaches this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from features.checkpoint import Checkpoint
from features.s3_objects import list_objects, split_uri

# Where the job's run id goes in the rendered request (its name and its report folder);
# stacks/constructs/monitor_schedule.py writes the same token.
RUN_TOKEN = "<monitor-run>"
# SageMaker's ProcessingJobName constraint (CreateProcessingJob API reference).
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# The monitor's CLI flags whose values the launcher needs (monitoring/monitor.py).
CAPTURE_FLAG = "--capture-uri"
GROUND_TRUTH_FLAG = "--ground-truth-uri"
STATE_FLAG = "--state-uri"

Decision = Literal[
    "started", "skipped_no_new_data", "skipped_already_started", "rejected_malformed"
]


class ConfigurationError(RuntimeError):
    """The function's environment is missing or invalid: nothing can be decided."""


class LauncherSettings(BaseModel):
    """The function's environment: the monitor job's CreateProcessingJob request as the
    construct rendered it (``JOB_REQUEST``, JSON, ``RUN_TOKEN`` where the run id goes)."""

    model_config = ConfigDict(frozen=True)

    job_request: str = Field(min_length=2)

    ENV: ClassVar[dict[str, str]] = {"job_request": "JOB_REQUEST"}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LauncherSettings:
        """Read and validate the environment; one error names what is wrong."""
        missing = [name for name in cls.ENV.values() if not env.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variables: {', '.join(missing)}")
        settings = cls(job_request=env["JOB_REQUEST"])
        try:
            request = json.loads(settings.job_request)
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"JOB_REQUEST is not JSON: {error}") from error
        if RUN_TOKEN not in str(request.get("ProcessingJobName", "")):
            raise ConfigurationError(f"JOB_REQUEST's ProcessingJobName has no {RUN_TOKEN}")
        settings.uris()  # every flag the launcher reads is there
        return settings

    def uris(self) -> dict[str, str]:
        """The capture, ground-truth and checkpoint URIs the monitor job is given."""
        arguments = json.loads(self.job_request)["AppSpecification"]["ContainerArguments"]
        flags = dict(zip(arguments[1::2], arguments[2::2], strict=False))
        missing = [f for f in (CAPTURE_FLAG, GROUND_TRUTH_FLAG, STATE_FLAG) if f not in flags]
        if missing:
            raise ConfigurationError(f"JOB_REQUEST's monitor arguments lack {', '.join(missing)}")
        return {flag: flags[flag] for flag in (CAPTURE_FLAG, GROUND_TRUTH_FLAG, STATE_FLAG)}

    def request_for(self, run_id: str) -> dict[str, Any]:
        """The CreateProcessingJob request of run ``run_id``."""
        request: dict[str, Any] = json.loads(self.job_request.replace(RUN_TOKEN, run_id))
        name = request["ProcessingJobName"]
        if not JOB_NAME.fullmatch(name):
            raise ConfigurationError(f"job name {name!r} breaks SageMaker's naming rule")
        return request


class ScheduledRun(BaseModel):
    """The schedule target's input: EventBridge Scheduler's context attributes
    (``<aws.scheduler.scheduled-time>`` and friends), filled in at each invocation."""

    model_config = ConfigDict(extra="forbid")

    scheduled_time: datetime
    schedule_arn: str = Field(pattern=r"^arn:[\w-]+:scheduler:")
    execution_id: str = Field(min_length=1)
    attempt: int = Field(ge=1)

    @field_validator("scheduled_time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("scheduled_time must carry a time zone (Scheduler sends Z)")
        return value.astimezone(UTC)

    @property
    def run_id(self) -> str:
        """The same for every attempt and duplicate of one scheduled invocation (the
        execution id is not: Scheduler assigns one per attempt)."""
        return f"{self.scheduled_time:%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True)
class Outcome:
    """What the function decided, and why; the handler returns it as a dict."""

    decision: Decision
    reason: str
    job_name: str
    new_capture: int = 0
    new_ground_truth: int = 0
    request: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _checkpoint(s3: Any, state_uri: str) -> Checkpoint:
    """The monitor's checkpoint, or an empty one before its first run.

    Listed before it is read: without s3:ListBucket on a key, S3 answers a missing key
    with AccessDenied, not NoSuchKey, and the first run must not look like an error.
    """
    bucket, key = split_uri(state_uri)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    if not any(item["Key"] == key for item in listed):
        return Checkpoint()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return Checkpoint.from_json(json.loads(body))


def _job_exists(sagemaker: Any, name: str) -> bool:
    try:
        sagemaker.describe_processing_job(ProcessingJobName=name)
    except sagemaker.exceptions.ClientError as error:
        # SageMaker answers an unknown job name with ValidationException.
        if error.response["Error"]["Code"] == "ValidationException":
            return False
        raise
    return True


def decide_and_launch(
    run: ScheduledRun, *, settings: LauncherSettings, s3: Any, sagemaker: Any
) -> Outcome:
    """Decide for one scheduled run; start the monitor job when the decision is ``started``."""
    request = settings.request_for(run.run_id)
    name = request["ProcessingJobName"]
    uris = settings.uris()
    checkpoint = _checkpoint(s3, uris[STATE_FLAG])
    capture = checkpoint.capture.select(list_objects(s3, uris[CAPTURE_FLAG]))
    truth = checkpoint.ground_truth.select(list_objects(s3, uris[GROUND_TRUTH_FLAG]))

    def outcome(decision: Decision, reason: str, request: dict[str, Any] | None = None) -> Outcome:
        return Outcome(decision, reason, name, len(capture), len(truth), request)

    if not capture and not truth:
        since = checkpoint.capture.watermark
        return outcome(
            "skipped_no_new_data",
            "no capture or ground truth since the monitor's checkpoint"
            + (f" (capture watermark {since.isoformat()})" if since else " (no run yet)"),
        )
    if _job_exists(sagemaker, name):
        return outcome(
            "skipped_already_started",
            f"job {name} of this scheduled run exists: a retried or duplicated invocation",
        )
    try:
        sagemaker.create_processing_job(**request)
    except sagemaker.exceptions.ResourceInUse:
        # A concurrent duplicate created it between the check and the call.
        return outcome("skipped_already_started", f"job {name} was created concurrently")
    return outcome(
        "started",
        f"{len(capture)} capture and {len(truth)} ground-truth objects the monitor has not read",
        request,
    )


def malformed_reason(error: ValidationError) -> str:
    """One line naming every problem of a rejected event."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<event>'}: {e['msg']}" for e in error.errors()
    )
