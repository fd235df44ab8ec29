"""What IAM would be asked for each AWS call a role's runtime made (recorded), and for each
call the service makes with the role on its behalf (modelled from the synthesized
definitions, since the local runtime does that work without AWS APIs).

A recorded call becomes requests by the Service Authorization Reference's resource type
for its operation; one no rule covers is an error naming it, never a guess. Modelled
calls say what they stand for in ``origin`` (docs/security.md lists them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local.cdk_assembly import Stage
from local.iam.call_recorder import RecordedCall
from local.iam.policy_evaluation import Request

CALLED = "called"
SAGEMAKER = "sagemaker.amazonaws.com"


class UnmodelledCallError(LookupError):
    """A recorded call whose IAM action or resource no rule here knows."""


@dataclass(frozen=True)
class Authorization:
    """One request to IAM, where it comes from (``called`` or what it models), and a
    short description of the call behind it."""

    request: Request
    origin: str
    call: str


def _in_stage(value: str, stage: Stage, local_account: str) -> str:
    """An ARN the local runtime built (moto's account) as the stage's account has it."""
    return value.replace(f":{local_account}:", f":{stage.account}:")


def _arn(stage: Stage, service: str, resource: str) -> str:
    return f"arn:{stage.partition}:{service}:{stage.region}:{stage.account}:{resource}"


# SageMaker operation -> (resource type, parameter naming it); ARNs use lower-case names.
SAGEMAKER_RESOURCES: dict[str, tuple[str, str]] = {
    "CreateProcessingJob": ("processing-job", "ProcessingJobName"),
    "DescribeProcessingJob": ("processing-job", "ProcessingJobName"),
    "StopProcessingJob": ("processing-job", "ProcessingJobName"),
    "CreateTrainingJob": ("training-job", "TrainingJobName"),
    "CreateModel": ("model", "ModelName"),
    "DescribeModel": ("model", "ModelName"),
    "DescribeTrainingJob": ("training-job", "TrainingJobName"),
    "StopTrainingJob": ("training-job", "TrainingJobName"),
    "StartPipelineExecution": ("pipeline", "PipelineName"),
    "ListPipelineExecutions": ("pipeline", "PipelineName"),
    "DescribePipeline": ("pipeline", "PipelineName"),
    # A version of a group: the request names the group it registers into.
    "CreateModelPackage": ("model-package-group", "ModelPackageGroupName"),
}
SAGEMAKER_ARN_PARAMETERS = {
    "DescribeModelPackage": "ModelPackageName",
    "UpdateModelPackage": "ModelPackageArn",
    "ListPipelineParametersForExecution": "PipelineExecutionArn",
    "DescribePipelineExecution": "PipelineExecutionArn",
}
# Operations IAM authorizes on "*" (no resource type in the Service Authorization Reference).
UNSCOPED = {
    ("sagemaker", "ListModelPackages"),
    ("cloudwatch", "PutMetricData"),
    ("cloudwatch", "GetMetricData"),
    ("cloudwatch", "ListMetrics"),
    ("xray", "PutTraceSegments"),
    ("xray", "PutTelemetryRecords"),
    ("ecr", "GetAuthorizationToken"),
}


def s3_key_requests(
    stage: Stage, action: str, bucket: str, key: str, kms_buckets: Mapping[str, str], origin: str
) -> list[Authorization]:
    """An S3 object request, and the stage key's use by S3 on the caller's behalf when the
    bucket's default encryption is SSE-KMS (writes: GenerateDataKey; reads: Decrypt)."""
    call = f"s3 {action.split(':')[1]} s3://{bucket}/{key}"
    found = [
        Authorization(Request(action, f"arn:{stage.partition}:s3:::{bucket}/{key}"), origin, call)
    ]
    key_arn = kms_buckets.get(bucket)
    kms = {"s3:PutObject": ["kms:GenerateDataKey"], "s3:GetObject": ["kms:Decrypt"]}.get(action, [])
    via = {"kms:ViaService": [f"s3.{stage.region}.amazonaws.com"]}
    for kms_action in kms if key_arn else []:
        found.append(
            Authorization(Request(kms_action, str(key_arn), via), f"S3 SSE-KMS for {origin}", call)
        )
    return found


def _s3_call(
    call: RecordedCall, stage: Stage, kms_buckets: Mapping[str, str]
) -> list[Authorization]:
    """An S3 object or bucket call (and the stage key's use by S3 for it)."""
    operation, params = call.operation, call.params
    bucket, _, key = call.resource.removeprefix("arn:aws:s3:::").partition("/")
    action = (
        "s3:AbortMultipartUpload"
        if call.method == "DELETE" and "uploadId" in params
        else f"s3:{operation}"
    )
    if key:
        if call.method == "HEAD":
            return [
                Authorization(
                    Request(action, call.resource), CALLED, f"s3 HeadObject s3://{bucket}/{key}"
                )
            ]
        found = s3_key_requests(stage, action, bucket, key, kms_buckets, CALLED)
        if call.method == "POST" and "uploads" in params and bucket in kms_buckets:
            # A multipart upload to an SSE-KMS bucket also needs kms:Decrypt.
            via = {"kms:ViaService": [f"s3.{stage.region}.amazonaws.com"]}
            found.append(
                Authorization(
                    Request("kms:Decrypt", kms_buckets[bucket], via),
                    "S3 SSE-KMS multipart",
                    found[0].call,
                )
            )
        return found
    context = {"s3:prefix": [str(params["prefix"])]} if "prefix" in params else {}
    prefix = f" prefix={params['prefix']}" if "prefix" in params else ""
    return [
        Authorization(
            Request(action, call.resource, context),
            CALLED,
            f"s3 {operation} s3://{bucket}{prefix}",
        )
    ]


def _sagemaker_resource_call(
    call: RecordedCall, stage: Stage, local_account: str
) -> list[Authorization]:
    """A SageMaker call on a resource its request names (and the role it passes, the tags
    it adds)."""
    operation, params = call.operation, call.params
    action = f"sagemaker:{operation}"
    described = f"sagemaker {operation}"
    kind, parameter = SAGEMAKER_RESOURCES[operation]
    resource = _arn(stage, "sagemaker", f"{kind}/{str(params[parameter]).lower()}")
    found = [Authorization(Request(action, resource), CALLED, f"{described} {params[parameter]}")]
    if operation in ("CreateProcessingJob", "CreateTrainingJob", "CreateModel"):
        passed = params["ExecutionRoleArn" if operation == "CreateModel" else "RoleArn"]
        role = _in_stage(str(passed), stage, local_account)
        context = {"iam:PassedToService": [SAGEMAKER]}
        found.append(
            Authorization(
                Request("iam:PassRole", role, context),
                f"{operation} passes its RoleArn",
                described,
            )
        )
    if params.get("Tags"):
        found.append(
            Authorization(
                Request("sagemaker:AddTags", resource), f"{operation} with Tags", described
            )
        )
    return found


def from_call(
    call: RecordedCall, stage: Stage, *, local_account: str, kms_buckets: Mapping[str, str]
) -> list[Authorization]:
    """The requests IAM evaluates for one recorded call."""
    service, operation, params = call.service, call.operation, call.params
    described = f"{service} {operation}"
    if service == "s3":
        return _s3_call(call, stage, kms_buckets)
    action = f"{service}:{operation}"
    if (service, operation) in UNSCOPED:
        context = (
            {"cloudwatch:namespace": [str(params["Namespace"])]} if "Namespace" in params else {}
        )
        detail = f" {params['Namespace']}" if "Namespace" in params else ""
        return [Authorization(Request(action, "*", context), CALLED, described + detail)]
    if service == "sagemaker" and operation in SAGEMAKER_RESOURCES:
        return _sagemaker_resource_call(call, stage, local_account)
    if service == "sagemaker" and operation in SAGEMAKER_ARN_PARAMETERS:
        arn = _in_stage(str(params[SAGEMAKER_ARN_PARAMETERS[operation]]), stage, local_account)
        return [
            Authorization(Request(action, arn), CALLED, f"{described} {arn.rsplit(':', 1)[-1]}")
        ]
    if service == "dynamodb" and "TableName" in params:
        table = _arn(stage, "dynamodb", f"table/{params['TableName']}")
        return [Authorization(Request(action, table), CALLED, f"{described} {params['TableName']}")]
    if service == "ssm" and "Name" in params:
        name = str(params["Name"])
        parameter = _arn(stage, "ssm", "parameter" + (name if name.startswith("/") else f"/{name}"))
        return [Authorization(Request(action, parameter), CALLED, f"{described} {name}")]
    if service == "codepipeline" and "name" in params:
        return [
            Authorization(
                Request(action, _arn(stage, "codepipeline", str(params["name"]))),
                CALLED,
                f"{described} {params['name']}",
            )
        ]
    if service == "sqs" and "QueueUrl" in params:
        queue = str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
        return [
            Authorization(
                Request(action, _arn(stage, "sqs", queue)), CALLED, f"{described} {queue}"
            )
        ]
    if service == "glue" and "JobName" in params:
        # Glue authorizes job-run operations on the job (arn:...:glue:...:job/<name>).
        job = _arn(stage, "glue", f"job/{params['JobName']}")
        return [Authorization(Request(action, job), CALLED, f"{described} {params['JobName']}")]
    if service == "kms" and "KeyId" in params:
        key = _in_stage(str(params["KeyId"]), stage, local_account)
        arn = key if key.startswith("arn:") else _arn(stage, "kms", f"key/{key}")
        return [Authorization(Request(action, arn), CALLED, described)]
    raise UnmodelledCallError(f"no IAM rule for {described} {sorted(params)}")


# ---- calls the service makes with the role (modelled) ---------------------------------


def image_pull(stage: Stage, image_uri: str, origin: str) -> list[Authorization]:
    """Pulling ``image_uri`` from ECR with the role (what docker pull asks for)."""
    registry, _, path = image_uri.partition("/")
    account, region = registry.split(".")[0], registry.split(".")[3]
    repository = path.split(":")[0].split("@")[0]
    arn = f"arn:{stage.partition}:ecr:{region}:{account}:repository/{repository}"
    call = f"pull {image_uri}"
    return [
        Authorization(Request("ecr:GetAuthorizationToken", "*"), origin, call),
        Authorization(Request("ecr:BatchGetImage", arn), origin, call),
        Authorization(Request("ecr:GetDownloadUrlForLayer", arn), origin, call),
    ]


def log_stream(
    stage: Stage, group: str, stream: str, origin: str, *, create_group: bool = True
) -> list[Authorization]:
    """Writing one log stream of ``group`` (a log group's ARN, as CloudWatch Logs
    returns it, ends in ``:*``; a stream's is ``...:log-stream:<name>``)."""
    group_arn = _arn(stage, "logs", f"log-group:{group}:*")
    stream_arn = _arn(stage, "logs", f"log-group:{group}:log-stream:{stream}")
    call = f"logs {group} {stream}"
    found = (
        [Authorization(Request("logs:CreateLogGroup", group_arn), origin, call)]
        if create_group
        else []
    )
    return [
        *found,
        Authorization(Request("logs:CreateLogStream", stream_arn), origin, call),
        Authorization(Request("logs:PutLogEvents", stream_arn), origin, call),
    ]


def volume_grant(stage: Stage, key_arn: str, origin: str) -> Authorization:
    """The service granting the volume key to the instances it starts for the role."""
    context = {"kms:GrantIsForAWSResource": ["true"]}
    return Authorization(
        Request("kms:CreateGrant", key_arn, context), origin, f"volume key {key_arn}"
    )


def lambda_invocation(
    stage: Stage, function: Mapping[str, Any], log_group: str, origin: str
) -> list[Authorization]:
    """Lambda writing one invocation's logs (and traces, with active tracing)."""
    found = log_stream(
        stage, log_group, "2026/01/01/[$LATEST]0123456789abcdef", origin, create_group=False
    )
    if function.get("TracingConfig", {}).get("Mode") == "Active":
        for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
            found.append(Authorization(Request(action, "*"), origin, "active tracing"))
    return found


def sagemaker_job(
    stage: Stage, kind: str, name: str, request: Mapping[str, Any], origin: str
) -> list[Authorization]:
    """What SageMaker does with the job role for a processing or training job request:
    pull the image, write the job's log stream, grant the volume key."""
    if kind == "processing":
        image = request["AppSpecification"]["ImageUri"]
        group = "/aws/sagemaker/ProcessingJobs"
        volume_key = request["ProcessingResources"]["ClusterConfig"].get("VolumeKmsKeyId")
    else:
        image = request["AlgorithmSpecification"]["TrainingImage"]
        group = "/aws/sagemaker/TrainingJobs"
        volume_key = request.get("ResourceConfig", {}).get("VolumeKmsKeyId")
    found = image_pull(stage, image, origin)
    found += log_stream(stage, group, f"{name}/algo-1-1700000000", origin)
    if volume_key:
        found.append(volume_grant(stage, volume_key, origin))
    return found


def pipeline_step(
    stage: Stage, step_type: str, job_name: str, request: Mapping[str, Any], origin: str
) -> list[Authorization]:
    """SageMaker Pipelines creating and watching one step's job with the pipeline role
    (a transform job runs as its model's role, passed when the model was created)."""
    kind, verb = {
        "Processing": ("processing-job", "ProcessingJob"),
        "Training": ("training-job", "TrainingJob"),
        "Transform": ("transform-job", "TransformJob"),
    }[step_type]
    resource = _arn(stage, "sagemaker", f"{kind}/{job_name.lower()}")
    call = f"{step_type} step job {job_name}"
    found = [
        Authorization(Request(f"sagemaker:Create{verb}", resource), origin, call),
        Authorization(Request(f"sagemaker:Describe{verb}", resource), origin, call),
    ]
    if step_type != "Transform":  # a transform runs as its model's role, passed before
        context = {"iam:PassedToService": [SAGEMAKER]}
        found.append(
            Authorization(Request("iam:PassRole", str(request["RoleArn"]), context), origin, call)
        )
    if request.get("Tags"):
        found.append(Authorization(Request("sagemaker:AddTags", resource), origin, call))
    return found


def s3_uri_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = re.sub(r"^s3://", "", uri).partition("/")
    return bucket, key


def all_of(groups: Iterable[list[Authorization]]) -> list[Authorization]:
    return [a for group in groups for a in group]
