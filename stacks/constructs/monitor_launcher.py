"""The monitor launcher: the Lambda between the monitor schedule and CreateProcessingJob.

Runtime code: ``lambda/monitor_launcher/`` (handler.py + launch_decision.py). Its code
asset also carries ``monitoring/checkpoint.py`` and ``monitoring/s3_objects.py``, so the
launcher decides "new data" with the monitor's own rule rather than a copy of it; the
asset is staged at synth time (``stage_code``), byte-identical for an unchanged tree.
Powertools comes from the same public layer as the retrain trigger's.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.code_bundle import REPO_ROOT
from stacks.constructs.nag import acknowledge
from stacks.constructs.retrain_trigger import POWERTOOLS_LAYER_PARAMETER, RUNTIME
from stacks.constructs.sagemaker_access import pass_role_to_sagemaker

FUNCTION_DIR = REPO_ROOT / "lambda" / "monitor_launcher"
# (file, path in the asset): the handler and the monitor modules it decides with.
CODE_MEMBERS = (
    (FUNCTION_DIR / "handler.py", "handler.py"),
    (FUNCTION_DIR / "launch_decision.py", "launch_decision.py"),
    *(
        (REPO_ROOT / "monitoring" / name, f"monitoring/{name}")
        for name in ("__init__.py", "checkpoint.py", "s3_objects.py")
    ),
)
METRICS_NAMESPACE = "MLOps/Monitoring"
# Where the run id goes in the rendered request (= launch_decision.RUN_TOKEN).
RUN_TOKEN = "<monitor-run>"


def stage_code(out_dir: Path) -> Path:
    """The function's code asset under ``out_dir``; files rewritten only when changed."""
    for source, name in CODE_MEMBERS:
        target = out_dir / name
        data = source.read_bytes()
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        # Concurrent synths (tests) may stage the same code: the rename keeps files whole.
        fd, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    return out_dir


class MonitorLauncher(Construct):
    """A function that starts ``request`` (a CreateProcessingJob request with
    ``RUN_TOKEN`` for the run id) only when capture or ground truth arrived since the
    monitor's checkpoint. Its role lists exactly the capture and ground-truth prefixes and
    the checkpoint key, reads the checkpoint, creates and describes only jobs named
    ``job_prefix-*``, and passes only ``job_role``, to SageMaker only."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        request: str,
        job_prefix: str,
        job_role: iam.IRole,
        artifacts: s3.IBucket,
        list_prefixes: list[str],
        checkpoint_key: str,
        key: kms.IKey,
        dead_letters: sqs.IQueue,
        code_dir: Path,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        job_arns = stack.format_arn(
            service="sagemaker", resource="processing-job", resource_name=f"{job_prefix}-*"
        )
        log_group = logs.LogGroup(
            self, "Logs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "lambda.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description=f"Starts {job_prefix} processing jobs when there is data to monitor.",
        )
        for statement in (
            iam.PolicyStatement(
                sid="ListMonitoredPrefixesAndCheckpoint",
                actions=["s3:ListBucket"],
                resources=[artifacts.bucket_arn],
                conditions={"StringEquals": {"s3:prefix": [*list_prefixes, checkpoint_key]}},
            ),
            iam.PolicyStatement(
                sid="ReadCheckpoint",
                actions=["s3:GetObject"],
                resources=[artifacts.arn_for_objects(checkpoint_key)],
            ),
            iam.PolicyStatement(
                sid="StartMonitorJobs",
                actions=["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob"],
                resources=[job_arns],
            ),
            pass_role_to_sagemaker(job_role),
            iam.PolicyStatement(
                # The checkpoint and the dead-letter queue are encrypted with the stage key.
                sid="UseStageKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
            ),
            iam.PolicyStatement(
                sid="Logs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            ),
        ):
            self.role.add_to_policy(statement)
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{job_arns}]",
            "Each run's job name ends in its scheduled time, known only at run time.",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) support no "
            "resource ARN.",
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(log_group.node.default_child)}"  # type: ignore[arg-type]
            ".Arn>:*]",
            "The log group's ARN as CloudFormation returns it ends in ':*' (its streams).",
        )

        self.function = lambda_.Function(
            self,
            "Function",
            description="Starts the monitor job when capture or ground truth is new (Powertools).",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(stage_code(code_dir))),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self, "Powertools", f"{{{{resolve:ssm:{POWERTOOLS_LAYER_PARAMETER}}}}}"
                )
            ],
            role=self.role,
            timeout=Duration.seconds(60),
            memory_size=256,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            # Failed asynchronous invocations (Scheduler invokes asynchronously) land here.
            dead_letter_queue=dead_letters,
            retry_attempts=2,
            environment={
                "JOB_REQUEST": request,
                "POWERTOOLS_SERVICE_NAME": "monitor-launcher",
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
        )
        # As in RetrainTrigger: wait for the role's policy only (cfn-lint W3005).
        function_resource = self.function.node.default_child
        policy_resource = self.role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(function_resource, CfnResource)
        assert isinstance(policy_resource, CfnResource)
        function_resource.add_override("DependsOn", [stack.get_logical_id(policy_resource)])
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"Python {RUNTIME.name} is pinned with the Powertools layer built for it; the "
            "runtime moves together with the layer, not on its own.",
        )
