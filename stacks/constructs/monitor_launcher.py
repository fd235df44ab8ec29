"""The monitor launcher: the Lambda between the monitor schedule and CreateProcessingJob.

Runtime code: ``lambda/monitor_launcher/`` (handler.py + launch_decision.py). Its code
asset also carries ``features/checkpoint.py`` and ``features/s3_objects.py`` (the
monitor's own modules, below both runtimes), so the launcher decides "new data" with the
monitor's own rule rather than a copy of it; the asset is staged at synth time
(``stage_code``), byte-identical for an unchanged tree.
Built as every Powertools function here (``powertools_function``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.code_bundle import REPO_ROOT
from stacks.constructs.nag import acknowledge
from stacks.constructs.powertools_function import powertools_function
from stacks.constructs.sagemaker_access import pass_role_to_sagemaker

FUNCTION_DIR = REPO_ROOT / "lambda" / "monitor_launcher"
# (file, path in the asset): the handler and the monitor modules it decides with.
CODE_MEMBERS = (
    (FUNCTION_DIR / "handler.py", "handler.py"),
    (FUNCTION_DIR / "launch_decision.py", "launch_decision.py"),
    *(
        (REPO_ROOT / "features" / name, f"features/{name}")
        for name in ("__init__.py", "checkpoint.py", "s3_objects.py")
    ),
)
METRICS_NAMESPACE = "MLOps/Monitoring"
# Where the run id goes in the rendered request (= launch_decision.RUN_TOKEN).
RUN_TOKEN = "<monitor-run>"


def stage_code(out_dir: Path) -> Path:
    """The function's code asset under ``out_dir``: exactly ``CODE_MEMBERS``, files
    rewritten only when changed (a file another synth is writing is a ``.part``)."""
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
    # A member that moved or went away must not ship from an earlier staging.
    expected = {out_dir / name for _, name in CODE_MEMBERS}
    for path in out_dir.rglob("*"):
        if path.is_file() and path not in expected and path.suffix != ".part":
            path.unlink(missing_ok=True)
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
        self.function, self.role = powertools_function(
            self,
            description="Starts the monitor job when capture or ground truth is new (Powertools).",
            role_description=f"Starts {job_prefix} processing jobs when there is data to monitor.",
            code=lambda_.Code.from_asset(str(stage_code(code_dir))),
            statements=[
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
            ],
            key=key,
            # Failed asynchronous invocations (Scheduler invokes asynchronously) land here.
            dead_letters=dead_letters,
            service_name="monitor-launcher",
            metrics_namespace=METRICS_NAMESPACE,
            environment={"JOB_REQUEST": request},
            timeout=Duration.seconds(60),
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{job_arns}]",
            "Each run's job name ends in its scheduled time, known only at run time.",
        )
