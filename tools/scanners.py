"""The template scanners a security review runs, and the one reviewed list of what each
may skip: cfn-lint (errors, warnings and informational rules) and checkov.

    python -m tools.scanners --cdk-out cdk.out      # checkov over a synthesized app

Every skip names the scanner, the check, the templates it applies to (a glob on the
template's file name, e.g. ``*DataLake*``) and why. A skip that no longer matches a
finding is reported too (``unused_skips``), so the list cannot outlive its reasons.
cdk-nag findings are acknowledged on the construct instead (stacks/constructs/nag.py),
next to the code they are about.

checkov pins its own boto3 (and more) against the runtime's: it lives in a virtualenv of
its own (``make checkov``: .venv-checkov), and runs as a program.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECKOV_VERSION = "3.3.30"  # = requirements-checkov.txt


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


@dataclass(frozen=True)
class Finding:
    """A failed check on one resource of one template."""

    tool: str
    check: str
    file: str  # the template's file name
    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.tool} {self.check} {self.file} {self.resource}: {self.message}"


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


def skipped(finding: Finding, skips: Iterable[Skip] = SKIPS) -> bool:
    return any(_matches(s, finding) for s in skips)


def unskipped(findings: Iterable[Finding], skips: Sequence[Skip] = SKIPS) -> list[Finding]:
    """Findings no skip covers: each one fails the scan."""
    return [f for f in findings if not skipped(f, skips)]


def unused_skips(
    findings: Iterable[Finding], tool: str, skips: Sequence[Skip] = SKIPS
) -> list[Skip]:
    """``tool``'s skips that match none of ``findings``: stale, to be removed."""
    found = list(findings)
    return [
        s
        for s in skips
        if s.tool == tool and not s.heuristic and not any(_matches(s, f) for f in found)
    ]


def _matches(skip: Skip, finding: Finding) -> bool:
    return (
        skip.tool == finding.tool
        and skip.check == finding.check
        and fnmatch.fnmatch(finding.file, skip.files)
    )


def checkov_findings(templates: Iterable[Path], checkov: Path = CHECKOV) -> list[Finding]:
    """checkov's failed checks over ``templates``, each distinct content scanned once.

    Raises FileNotFoundError if checkov is not installed (``make checkov``), and
    RuntimeError if it did not run to the end.
    """
    if not checkov.exists():
        raise FileNotFoundError(f"{checkov} is missing: run `make checkov` to install it")
    with tempfile.TemporaryDirectory(prefix="checkov-") as scratch:
        names: dict[str, Path] = {}
        for template in templates:
            digest = hashlib.sha256(template.read_bytes()).hexdigest()
            if digest not in names:
                # One folder per content keeps the file name the skips match on.
                copy = Path(scratch) / digest[:16] / template.name
                copy.parent.mkdir()
                shutil.copyfile(template, copy)
                names[digest] = copy
        if not names:
            return []
        done = subprocess.run(
            [
                str(checkov),
                "--directory",
                scratch,
                "--framework",
                "cloudformation",
                "--output",
                "json",
                "--compact",
                "--quiet",
                # Offline: no policy download, no upload (no API key is ever given).
                "--skip-download",
            ],
            capture_output=True,
            text=True,
            check=False,
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": scratch,
                "BC_SKIP_MAPPING": "TRUE",
                "LOG_LEVEL": "ERROR",
            },
        )
    # checkov exits 1 when a check failed; anything else, or no JSON, is a broken run.
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise RuntimeError(f"checkov failed ({done.returncode}): {done.stderr[-2000:]}")
    return _parse_checkov(done.stdout)


def _parse_checkov(output: str) -> list[Finding]:
    data = json.loads(output)
    reports = data if isinstance(data, list) else [data]
    findings = []
    for report in reports:
        for failed in report.get("results", {}).get("failed_checks", []):
            findings.append(
                Finding(
                    tool="checkov",
                    check=failed["check_id"],
                    file=Path(failed["file_path"]).name,
                    resource=failed["resource"],
                    message=failed["check_name"],
                )
            )
    return findings


def main(argv: Sequence[str] | None = None) -> None:
    """Run checkov over every template in ``--cdk-out``; exit 1 on an unskipped finding."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out")
    args = parser.parse_args(argv)
    templates = sorted(args.cdk_out.glob("*.template.json")) + sorted(
        args.cdk_out.glob("assembly-*/*.template.json")
    )
    findings = checkov_findings(templates)
    failing = unskipped(findings)
    for finding in failing:
        print(finding)
    for skip in unused_skips(findings, "checkov"):
        print(f"unused skip: {skip.check} on {skip.files}")
    print(
        f"checkov: {len(templates)} templates, {len(findings)} findings, {len(failing)} unskipped"
    )
    sys.exit(1 if failing else 0)


if __name__ == "__main__":
    main()
