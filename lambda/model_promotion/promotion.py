"""Model promotion, as plain functions over boto3 clients (the handler only wires them).

The rule: a stage serves the newest *Approved* version of its model package group.
Every "SageMaker Model Package State Change" event for the group is only a prompt to
reconcile: the registry (not the event) says which version is newest and approved, the
stage's SSM parameter says which one is recorded, and only a difference acts (write the
parameter, start the delivery pipeline). That makes the function idempotent by state:

- Approved vN, N newest            -> record vN, start the pipeline ("promoted").
- the same event again (AWS may send several per change) -> nothing ("duplicate").
- Rejected vN while vN is recorded -> record the newest still-approved version and start
  the pipeline ("rolled_back"); with none left, nothing changes and the error says so
  ("no_approved_version"): the endpoint keeps serving vN until a version is approved.
- Rejected vK, not recorded        -> nothing ("ignored_not_serving").
- Approved vK older than the recorded vN -> nothing ("ignored_older"). Approving an old
  version is not a rollback: a late duplicate of an old approval event would otherwise
  undo a newer promotion. To roll back, reject vN (explicit, and recorded in the
  registry's history); the newest approved version before it is then served.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

LOG = logging.getLogger(__name__)

DETAIL_TYPE = "SageMaker Model Package State Change"
APPROVED = "Approved"
REJECTED = "Rejected"


class PromotionEventError(ValueError):
    """The event is not a model package state change this function can act on."""


class Decision(StrEnum):
    """What one event led to; published as the PromotionDecision metric's dimension."""

    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    DUPLICATE = "duplicate"
    IGNORED_OLDER = "ignored_older"
    IGNORED_NOT_SERVING = "ignored_not_serving"
    IGNORED_OTHER_GROUP = "ignored_other_group"
    NO_APPROVED_VERSION = "no_approved_version"


@dataclass(frozen=True)
class PackageChange:
    """The fields of the event this function reads (``detail`` of the documented event)."""

    group: str
    version: int
    arn: str
    status: str

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> PackageChange:
        if event.get("source") != "aws.sagemaker" or event.get("detail-type") != DETAIL_TYPE:
            raise PromotionEventError(
                f"expected source aws.sagemaker and detail-type {DETAIL_TYPE!r}, got "
                f"{event.get('source')!r} / {event.get('detail-type')!r}"
            )
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise PromotionEventError("the event has no detail object")
        missing = [
            k
            for k in ("ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn")
            if k not in detail
        ]
        if missing:
            raise PromotionEventError(f"the event detail lacks {', '.join(missing)}")
        try:
            version = int(detail["ModelPackageVersion"])
        except (TypeError, ValueError) as error:
            raise PromotionEventError(
                f"ModelPackageVersion {detail['ModelPackageVersion']!r} is not a number"
            ) from error
        return cls(
            group=str(detail["ModelPackageGroupName"]),
            version=version,
            arn=str(detail["ModelPackageArn"]),
            status=str(detail.get("ModelApprovalStatus", "")),
        )


@dataclass(frozen=True)
class Outcome:
    """The decision, why, what the stage serves afterwards and the pipeline run started."""

    decision: Decision
    reason: str
    served_arn: str
    pipeline_execution_id: str | None = None


@dataclass(frozen=True)
class Target:
    """Where this stage's promotion acts."""

    group: str
    parameter: str
    # None when the delivery pipeline lives in another account (two-account setups):
    # the version is recorded and deployed by the pipeline's next release there.
    pipeline: str | None
    no_model: str = "none"
    # Where the served version's model.tar.gz URL is recorded (the endpoint's role may
    # read that one object only); None: not recorded.
    artifact_parameter: str | None = None
    # Where the approved release (package ARN, model.tar.gz URL, its SHA-256, the key
    # that encrypts it) is recorded for the stage that serves this registry (Prod).
    release_parameter: str | None = None


@dataclass(frozen=True)
class Release:
    """What the serving stage deploys, and what identifies its bytes."""

    model_package_arn: str
    model_data_url: str
    model_data_sha256: str
    kms_key_arn: str

    def value(self) -> str:
        """The StringList value, in config/layout.py's RELEASE_FIELDS order."""
        return ",".join(
            (self.model_package_arn, self.model_data_url, self.model_data_sha256, self.kms_key_arn)
        )


CHUNK = 1 << 20


def release_of(sagemaker: Any, s3: Any, arn: str) -> Release:
    """The package ``arn``'s release: its model.tar.gz read once (streamed) for its SHA-256,
    and the key S3 encrypted it with."""
    url = model_data_url(sagemaker, arn)
    bucket, _, key = url.removeprefix("s3://").partition("/")
    response = s3.get_object(Bucket=bucket, Key=key)
    digest = hashlib.sha256()
    for chunk in iter(lambda: response["Body"].read(CHUNK), b""):
        digest.update(chunk)
    return Release(arn, url, digest.hexdigest(), str(response.get("SSEKMSKeyId", "")))


def version_of(arn: str) -> int | None:
    """The version number at the end of a versioned model package ARN (``.../<group>/<n>``)."""
    tail = arn.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def newest_approved(sagemaker: Any, group: str) -> str | None:
    """ARN of the highest-numbered Approved version in ``group``, or None."""
    best: tuple[int, str] | None = None
    kwargs: dict[str, Any] = {"ModelPackageGroupName": group, "ModelApprovalStatus": APPROVED}
    while True:
        page = sagemaker.list_model_packages(**kwargs)
        for summary in page.get("ModelPackageSummaryList", []):
            # The registry filters by status already; checking again costs nothing and
            # keeps a stand-in that ignores the filter from promoting a rejected model.
            if summary.get("ModelApprovalStatus") != APPROVED:
                continue
            arn = summary["ModelPackageArn"]
            version = summary.get("ModelPackageVersion") or version_of(arn)
            if version is not None and (best is None or int(version) > best[0]):
                best = (int(version), arn)
        token = page.get("NextToken")
        if not token:
            return best[1] if best else None
        kwargs["NextToken"] = token


def model_data_url(sagemaker: Any, arn: str) -> str:
    """The ``s3://`` URL of the model artifact the package ``arn`` serves."""
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    url: str = described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    return url


def recorded_version(ssm: Any, parameter: str, no_model: str) -> str:
    """The ARN the stage serves (``no_model`` if none yet or the parameter is missing)."""
    try:
        value: str = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return no_model
    return value


def request_token(arn: str, parameter_version: int) -> str:
    """An idempotency token for StartPipelineExecution, unique per recorded change.

    The parameter's version grows with every write, so re-promoting a version later
    (rejected, then approved again) is a new request, while a retry of the same
    change reuses the token.
    """
    digest = hashlib.sha256(arn.encode()).hexdigest()[:16]
    return f"promote-{digest}-{parameter_version}"


def promote(
    event: dict[str, Any],
    *,
    target: Target,
    sagemaker: Any,
    ssm: Any,
    codepipeline: Any,
    s3: Any = None,
) -> Outcome:
    """Reconcile the stage's recorded version with the registry after ``event``."""
    change = PackageChange.from_event(event)
    recorded = recorded_version(ssm, target.parameter, target.no_model)
    if change.group != target.group:
        return Outcome(
            Decision.IGNORED_OTHER_GROUP,
            f"{change.arn} belongs to {change.group}, not {target.group}",
            recorded,
        )
    newest = newest_approved(sagemaker, target.group)
    if newest is None:
        return Outcome(
            Decision.NO_APPROVED_VERSION,
            f"no Approved version left in {target.group}; the stage keeps serving "
            f"{recorded} until one is approved",
            recorded,
        )
    if newest == recorded:
        # A release parameter added after this version was recorded (an upgrade) gets it
        # now: the serving stage would otherwise wait for the next approval.
        if target.release_parameter and _release_arn(ssm, target.release_parameter) != newest:
            _record_release(ssm, sagemaker, s3, target.release_parameter, newest)
        return _no_change(change, recorded)

    if target.artifact_parameter:
        # Before the version: whatever deploys the recorded version finds its artifact.
        ssm.put_parameter(
            Name=target.artifact_parameter,
            Value=model_data_url(sagemaker, newest),
            Type="String",
            Overwrite=True,
        )
    if target.release_parameter:
        _record_release(ssm, sagemaker, s3, target.release_parameter, newest)
    written = ssm.put_parameter(Name=target.parameter, Value=newest, Type="String", Overwrite=True)
    execution_id = None
    if target.pipeline:
        execution_id = codepipeline.start_pipeline_execution(
            name=target.pipeline, clientRequestToken=request_token(newest, written["Version"])
        )["pipelineExecutionId"]
    recorded_number = version_of(recorded)
    newest_number = version_of(newest) or 0
    rolled_back = recorded_number is not None and newest_number < recorded_number
    decision = Decision.ROLLED_BACK if rolled_back else Decision.PROMOTED
    started = (
        f"started {target.pipeline}"
        if target.pipeline
        else "release the delivery pipeline in its account to deploy it"
    )
    reason = (
        f"{change.arn} is {change.status}; the newest Approved version is now {newest} "
        f"(was {recorded}); {started}"
    )
    return Outcome(decision, reason, newest, execution_id)


def _release_arn(ssm: Any, parameter: str) -> str:
    """The package ARN the release parameter records (its first item; "" if none)."""
    try:
        value: str = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return ""
    return value.split(",", 1)[0]


def _record_release(ssm: Any, sagemaker: Any, s3: Any, parameter: str, arn: str) -> None:
    ssm.put_parameter(
        Name=parameter,
        Value=release_of(sagemaker, s3, arn).value(),
        Type="StringList",
        Overwrite=True,
    )


def _no_change(change: PackageChange, recorded: str) -> Outcome:
    """Why an event that leaves the newest approved version as recorded changes nothing."""
    recorded_number = version_of(recorded)
    if change.arn == recorded:
        return Outcome(
            Decision.DUPLICATE,
            f"{change.arn} ({change.status}) is already the recorded version",
            recorded,
        )
    if (
        change.status == APPROVED
        and recorded_number is not None
        and change.version < recorded_number
    ):
        return Outcome(
            Decision.IGNORED_OLDER,
            f"v{change.version} was approved but v{recorded_number} is newer and serving; "
            f"to roll back, reject v{recorded_number}",
            recorded,
        )
    return Outcome(
        Decision.IGNORED_NOT_SERVING,
        f"{change.arn} is {change.status} and not the served version {recorded}",
        recorded,
    )
