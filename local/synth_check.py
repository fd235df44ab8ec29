"""Synthesize the CDK app offline and check it: cdk-nag (AwsSolutions, NIST 800-53 rev 5)
and cfn-lint (errors, warnings and informational rules).

Used by ``make run`` (first step) and by the infrastructure tests, so both check the app
exactly as ``cdk synth`` builds it, with the feature flags from ``cdk.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from aws_cdk import App
from cfnlint.config import ConfigMixIn
from cfnlint.decode.decode import decode_str
from cfnlint.rules import Match, Rules
from cfnlint.runner import Runner, run_template_by_data

from app import build_app, validation_failures
from config.scan_skips import lint_ignores
from local.cdk_assembly import all_templates

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SynthReport:
    """Templates written, and every finding that makes the app unfit to deploy."""

    assembly_dir: Path
    templates: list[Path]
    nag_failures: list[str] = field(default_factory=list)
    lint_findings: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.nag_failures and not self.lint_findings


def cdk_json_context() -> dict[str, object]:
    """The context (feature flags) that the CDK CLI would pass from cdk.json."""
    context: dict[str, object] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def synthesize(outdir: Path, extra_context: dict[str, object] | None = None) -> App:
    """Build and synthesize the whole app into ``outdir``; return the app."""
    app = App(outdir=str(outdir), context={**cdk_json_context(), **(extra_context or {})})
    build_app(app).synth()
    return app


@cache
def _lint_rules() -> Rules:
    """cfn-lint's rules, loaded once per process: each rule reads its data files when it
    is made, two thirds of a template's lint (every configuration's 97 templates: 76 s
    with ``lint_file``, 26 s so, the same findings). Which rules run is decided per
    template by the configuration it is linted with, as in cfn-lint's own runner."""
    return Runner(ConfigMixIn([])).rules


def lint_template(template: Path) -> list[str]:
    """cfn-lint errors, warnings and informational findings for one template, one line
    each, less the rules tools/scanners.py skips with a reason."""
    config = ConfigMixIn([], include_checks=["I"], ignore_checks=lint_ignores(template.name))
    data, matches = decode_str(template.read_text())
    found: list[Match] = matches or list(run_template_by_data(data, config, _lint_rules()))
    return [f"{template.name}: {m.rule.id} {m.message} ({template}:{m.linenumber})" for m in found]


def synth_and_check(
    outdir: Path,
    extra_context: dict[str, object] | None = None,
    *,
    lint: Callable[[Path], list[str]] = lint_template,
) -> SynthReport:
    """Synthesize into ``outdir`` and run cdk-nag and ``lint`` (cfn-lint) over the result."""
    synthesize(outdir, extra_context)
    templates = all_templates(outdir)
    report = SynthReport(assembly_dir=outdir, templates=templates)
    report.nag_failures = validation_failures(outdir)
    for template in templates:
        report.lint_findings.extend(lint(template))
    return report
