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

from config.scan_skips import SKIPS, Skip

ROOT = Path(__file__).resolve().parents[1]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECKOV_VERSION = "3.3.30"  # = requirements-checkov.txt


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
