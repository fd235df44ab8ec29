"""The reviewed exceptions to the template scanners (cfn-lint, checkov), each with its reason.

One table read by the scanners (tools/scanners.py), the synth check (local/synth_check.py)
and the Delivery pipeline's cfn-lint step (stacks/delivery.py).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class Skip:
    """One reviewed exception: ``check`` of ``tool`` on templates matching ``files``."""

    tool: str  # "checkov" or "cfn-lint"
    check: str
    files: str
    reason: str
    # A check driven by a heuristic whose verdict can change with content that is not
    # the project's choice (a hash): not reported as unused when it does not fire.
    heuristic: bool = False


SKIPS: tuple[Skip, ...] = (
    Skip(
        "cfn-lint",
        "I1022",
        "*",
        "CDK renders every string built from tokens (an ARN, an s3:// URL) as Fn::Join "
        "with an empty delimiter; Fn::Sub would be the same value. Generated, never "
        "edited by hand: style only.",
    ),
    Skip(
        "cfn-lint",
        "I3510",
        "Delivery*",
        "CDK Pipelines grants codestar-connections:UseConnection on the connection's "
        "codeconnections ARN: the service was renamed, and IAM honours the old action "
        "prefix for the new ARNs; cfn-lint only knows the old ARN format.",
    ),
    Skip(
        "checkov",
        "CKV_AWS_18",
        "Delivery*",
        "CDK Pipelines' artifact bucket holds only source archives and cloud assemblies for "
        "CodePipeline's own use; CloudTrail records its management events.",
    ),
    Skip(
        "checkov",
        "CKV_AWS_21",
        "Delivery*",
        "CodePipeline writes each artifact once under its execution's own key, and each "
        "can be rebuilt from the repository: no earlier version to keep.",
    ),
    Skip(
        "checkov",
        "CKV_AWS_111",
        "Delivery*",
        "codebuild:StartBuild/StopBuild/BatchGetBuilds on '*' in the asset-publishing role "
        "CDK Pipelines generates (AwsSolutions-IAM5 is acknowledged the same way).",
    ),
    Skip(
        "checkov",
        "CKV_AWS_117",
        "*",
        "Lambda outside a VPC, VPC mode included (docs/isolation.md): the functions only "
        "call AWS service APIs (TLS, IAM-signed) and reach no resource inside a network "
        "(as acknowledged for cdk-nag's NIST.800.53.R5-LambdaInsideVPC).",
    ),
    Skip(
        "checkov",
        "CKV_AWS_173",
        "*",
        "Lambda environment variables hold names only (pipeline, table, parameter, "
        "prefixes), never a secret; Lambda encrypts them at rest with its service key.",
    ),
    Skip(
        "checkov",
        "CKV_AWS_45",
        "*",
        "checkov's secrets heuristic flags function environments in some make-test runs "
        "and not in others, on the same template bytes: the monitor launcher's and the "
        "retrain function's once, the promotion function's (ProdMlPipeline) once, whose "
        "variables are seven constant names. No function's environment holds a secret: "
        "names, ARNs, S3 URIs and the code bundle's content hash (see CKV_AWS_173).",
        heuristic=True,
    ),
    Skip(
        "checkov",
        "CKV_AWS_18",
        "*DataLake*",
        "The access-log bucket itself: S3 access logs written into their own bucket would "
        "log their own delivery, a loop (AwsSolutions-S1 is acknowledged the same way).",
    ),
    Skip(
        "checkov",
        "CKV_AWS_370",
        "DevServing*",
        "Dev's serverless option only (-c dev_serverless=true; Prod refuses it): Serverless "
        "Inference supports no network isolation. Every instance-backed model is isolated "
        "(tests/infrastructure/test_isolation_and_iam.py asserts it).",
    ),
)


def lint_ignores(template_name: str | None = None) -> list[str]:
    """cfn-lint rules skipped on the template called ``template_name``; with no name, every
    rule skipped on any template (for one cfn-lint run over all of them)."""
    return sorted(
        {
            s.check
            for s in SKIPS
            if s.tool == "cfn-lint"
            and (template_name is None or fnmatch.fnmatch(template_name, s.files))
        }
    )
