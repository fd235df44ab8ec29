"""The project's Powertools Lambdas: one way to build them, so they cannot drift apart.

Dependencies: a function's code asset holds its own modules only; Powertools (with
pydantic and the X-Ray SDK it needs for Parser and Tracer) comes from the official
Powertools layer, resolved at deploy time from its public SSM parameter for the pinned
version. Bundling the dependencies instead would need pip (network) or Docker at synth,
and synth here is offline; the layer is the same Powertools release that
requirements.txt pins for tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.nag import acknowledge

POWERTOOLS_VERSION = "3.37.0"  # = aws-lambda-powertools in requirements.txt
RUNTIME = lambda_.Runtime.PYTHON_3_12
# Why the project's functions run outside a VPC (NIST.800.53.R5-LambdaInsideVPC).
LAMBDA_OUTSIDE_VPC = (
    "The function only calls AWS service APIs (TLS, IAM-signed) and reaches no resource "
    "inside a network; in a VPC it would need NAT or interface endpoints to do the same. "
    "VPC mode attaches the SageMaker containers only: the functions stay outside it."
)
POWERTOOLS_LAYER_PARAMETER = (
    f"/aws/service/powertools/python/x86_64/{RUNTIME.name}/{POWERTOOLS_VERSION}"
)


def powertools_function(
    scope: Construct,
    *,
    description: str,
    role_description: str,
    code: lambda_.Code,
    statements: Sequence[iam.PolicyStatement],
    key: kms.IKey,
    dead_letters: sqs.IQueue,
    service_name: str,
    metrics_namespace: str,
    environment: Mapping[str, str],
    timeout: Duration,
    log_retention: logs.RetentionDays,
    removal_policy: RemovalPolicy,
) -> tuple[lambda_.Function, iam.Role]:
    """A Powertools function (``handler.handler``) under ``scope``, and its role.

    The function gets active tracing, a log group of its own encrypted with ``key``, two
    retries of asynchronous invocations and then ``dead_letters``. Its role trusts Lambda
    for this account only and holds ``statements`` plus writing its own logs. The
    constructs are ``scope``'s own children (Logs, Role, Function, Powertools), so the
    calling construct keeps its resources' logical IDs.
    """
    log_group = logs.LogGroup(
        scope, "Logs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
    )
    role = _function_role(scope, role_description, statements, log_group)
    function = lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=RUNTIME,
        architecture=lambda_.Architecture.X86_64,
        handler="handler.handler",
        code=code,
        layers=[
            lambda_.LayerVersion.from_layer_version_arn(
                scope, "Powertools", f"{{{{resolve:ssm:{POWERTOOLS_LAYER_PARAMETER}}}}}"
            )
        ],
        role=role,
        timeout=timeout,
        memory_size=256,
        # One at a time: each function reads then writes shared state (the cooldown lock,
        # the monitor checkpoint), so a second copy could only race the first; a
        # throttled asynchronous event waits in Lambda's queue and is retried.
        reserved_concurrent_executions=1,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        # Failed asynchronous invocations (after Lambda's own retries) land here.
        dead_letter_queue=dead_letters,
        retry_attempts=2,
        environment={
            **environment,
            "POWERTOOLS_SERVICE_NAME": service_name,
            "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
        },
    )
    _after_role_policy(function, role)
    return function, role


def _function_role(
    scope: Construct,
    role_description: str,
    statements: Sequence[iam.PolicyStatement],
    log_group: logs.LogGroup,
) -> iam.Role:
    """The function's role: this account's Lambda only, ``statements`` and its own logs."""
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal(
            "lambda.amazonaws.com",
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        ),
        description=role_description,
    )
    # Into the role's default policy, which the function already waits for; CDK adds the
    # X-Ray and dead-letter statements there as well (tracing, dead_letter_queue).
    for statement in (
        *statements,
        iam.PolicyStatement(
            sid="Logs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn],
        ),
    ):
        role.add_to_policy(statement)
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) support no "
        "resource ARN.",
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(log_group.node.default_child)}"  # type: ignore[arg-type]
        ".Arn>:*]",
        "The log group's ARN as CloudFormation returns it ends in ':*' (its streams).",
    )
    return role


def _after_role_policy(function: lambda_.Function, role: iam.Role) -> None:
    """Order the function after its role's policy, and say why its findings are fine."""
    stack = Stack.of(function)
    # The function waits for its role's policy; the Role property's GetAtt already orders
    # it after the role itself (cfn-lint W3005 on CDK's extra DependsOn).
    function_resource = function.node.default_child
    policy_resource = role.node.find_child("DefaultPolicy").node.default_child
    assert isinstance(function_resource, CfnResource)
    assert isinstance(policy_resource, CfnResource)
    function_resource.add_override("DependsOn", [stack.get_logical_id(policy_resource)])
    acknowledge(function, "NIST.800.53.R5-LambdaInsideVPC", LAMBDA_OUTSIDE_VPC)
    acknowledge(
        function,
        "AwsSolutions-L1",
        f"Python {RUNTIME.name} is pinned with the Powertools layer built for it; the "
        "runtime moves together with the layer, not on its own.",
    )
