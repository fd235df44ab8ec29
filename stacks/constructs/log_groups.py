"""The stage's CloudWatch log groups: declared, so retention, encryption and deletion are
the stage's decisions rather than each service's defaults.

What can be declared: a group the stage alone writes to and whose name the stage
decides or knows at synth time (its Lambdas', its Glue jobs' continuous logs, its
endpoint's ``/aws/sagemaker/Endpoints/<endpoint>``). What cannot: SageMaker's
``/aws/sagemaker/TrainingJobs`` and ``/aws/sagemaker/ProcessingJobs`` are one group per
account and region, shared by every job of every project and stage there. SageMaker
creates them on an account's first job; a stack declaring them fails to create wherever
they exist already (and Dev and Prod in one account would both declare them), and
deleting the stack would delete other projects' logs. Their retention and encryption
are an account-level setting (docs/security.md), not a stage's.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

# The days CloudWatch Logs accepts, as its enumeration (CDK's values are names).
_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    """``days`` (config's ``log_retention_days``) as CloudWatch Logs' retention setting."""
    try:
        return _RETENTION[days]
    except KeyError:
        allowed = ", ".join(str(d) for d in _RETENTION)
        raise ValueError(
            f"log_retention_days={days} is not a CloudWatch Logs retention: use one of {allowed}"
        ) from None


def endpoint_log_group_name(endpoint_name: str) -> str:
    """Where SageMaker writes an endpoint's container logs (fixed by SageMaker)."""
    return f"/aws/sagemaker/Endpoints/{endpoint_name}"


def glue_log_group_name(security_configuration: str) -> str:
    """The ETL jobs' continuous-log group (``--continuous-log-logGroup``). Under
    /aws-glue/, where Glue's own groups live and the job role may write, and named after
    the jobs' security configuration, as Glue names the groups it creates for one."""
    return f"/aws-glue/{security_configuration}"


def log_group_arn_pattern(scope: Construct, name_pattern: str) -> str:
    """The ARN of the log groups named ``name_pattern`` (``*`` allowed) in ``scope``'s
    account and region, as the ``aws:logs:arn`` encryption context spells it."""
    return Stack.of(scope).format_arn(
        service="logs",
        resource="log-group",
        resource_name=name_pattern,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class StageLogGroup(logs.LogGroup):
    """A log group encrypted with the stage key, kept ``retention_days``, and retained
    with the stack in stages that keep their data (``removal_policy``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        retention_days: int,
        removal_policy: RemovalPolicy,
        log_group_name: str | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            log_group_name=log_group_name,
            encryption_key=key,
            retention=retention(retention_days),
            removal_policy=removal_policy,
        )
