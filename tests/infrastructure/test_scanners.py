"""The scanners a security review runs over the synthesized app: checkov on every template
of every configuration the tests synthesize (once per run), cfn-lint with informational
rules, and cdk-nag's NIST 800-53 rev 5 pack next to AwsSolutions. Each guard proves its
scanner really runs and really fails on a finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.synth_check import lint_template
from tools.scanners import SKIPS, Finding, Skip, checkov_findings, unskipped, unused_skips

# A template every scanner must object to: an unencrypted, unlogged, unversioned bucket
# and a table with no deletion policy.
INSECURE = {
    "Resources": {
        "Open": {"Type": "AWS::S3::Bucket"},
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        },
    }
}


# Every configuration the tests synthesize (the session fixtures of tests/conftest.py).
CONFIGURATIONS = (
    "synth_report",
    "synth_report_with_arn",
    "synth_report_dev_serverless",
    "synth_report_vpc",
    "delivery_one_account",
    "delivery_two_accounts",
)


def test_checkov_passes_every_synthesized_template_but_fails_an_insecure_one(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """One checkov run over every configuration's templates (each distinct one once)."""
    guard = tmp_path / "Insecure.template.json"
    guard.write_text(json.dumps(INSECURE))
    reports = [request.getfixturevalue(name) for name in CONFIGURATIONS]
    templates = [t for report in reports for t in report.templates]
    findings = checkov_findings([*templates, guard])
    on_guard = [f for f in findings if f.file == guard.name]
    assert {"CKV_AWS_18", "CKV_AWS_21"} <= {f.check for f in on_guard}
    app_findings = [f for f in findings if f.file != guard.name]
    assert unskipped(app_findings) == []
    assert unused_skips(app_findings, "checkov") == []


def test_every_skip_names_a_check_files_and_a_reason() -> None:
    assert SKIPS
    for skip in SKIPS:
        assert skip.tool in ("checkov", "cfn-lint")
        assert skip.check and skip.files
        assert len(skip.reason.split()) >= 8, skip
    keys = [(s.tool, s.check, s.files) for s in SKIPS]
    assert len(keys) == len(set(keys))


def test_skips_match_on_tool_check_and_file_only() -> None:
    skips = [Skip("checkov", "CKV_X", "*DataLake*", "a reason of enough words to be read")]
    covered = Finding("checkov", "CKV_X", "DevDataLakeD9C17C37.template.json", "r", "m")
    elsewhere = Finding("checkov", "CKV_X", "DevServingE7F840B0.template.json", "r", "m")
    other_check = Finding("checkov", "CKV_Y", "DevDataLakeD9C17C37.template.json", "r", "m")
    assert unskipped([covered, elsewhere, other_check], skips) == [elsewhere, other_check]
    assert unused_skips([elsewhere], "checkov", skips) == skips
    assert unused_skips([covered], "checkov", skips) == []
    heuristic = [Skip("checkov", "CKV_X", "*", "a reason of enough words to be read", True)]
    assert unused_skips([], "checkov", heuristic) == []


def test_cfn_lint_skips_apply_to_their_files_only() -> None:
    from config.scan_skips import lint_ignores

    assert lint_ignores("Delivery.template.json") == ["I1022", "I3510"]
    assert lint_ignores("DevDataLakeD9C17C37.template.json") == ["I1022"]
    assert lint_ignores() == ["I1022", "I3510"]


def test_cfn_lint_reports_informational_rules(tmp_path: Path) -> None:
    template = tmp_path / "Insecure.template.json"
    template.write_text(json.dumps(INSECURE))
    findings = lint_template(template)
    assert any(" I3011 " in f for f in findings), findings


def test_the_rules_loaded_once_find_what_cfn_lint_finds_alone(
    delivery_one_account, tmp_path: Path
) -> None:
    """``lint_template`` loads cfn-lint's rules once per process and lints each template
    with its own skips: every finding is the one cfn-lint's ``lint_file`` gives that
    template on its own, for the template the skips name and for the same content under
    a name they do not (where a skipped rule does report)."""
    from cfnlint.api import ManualArgs, lint_file

    from config.scan_skips import lint_ignores

    [delivery] = [t for t in delivery_one_account.templates if t.name == "Delivery.template.json"]
    renamed = tmp_path / "Other.template.json"
    renamed.write_text(delivery.read_text())
    insecure = tmp_path / "Insecure.template.json"
    insecure.write_text(json.dumps(INSECURE))
    for template in (delivery, renamed, insecure):
        config = ManualArgs(include_checks=["I"], ignore_checks=lint_ignores(template.name))
        alone = [
            f"{template.name}: {m.rule.id} {m.message} ({m.filename}:{m.linenumber})"
            for m in lint_file(template, config)
        ]
        assert lint_template(template) == alone
    reported = {line.split()[1] for line in lint_template(renamed)}
    assert reported & set(lint_ignores("Delivery.template.json"))  # the skips are in play


def test_app_runs_both_nag_packs_and_passes_them(synth_report) -> None:
    """A pack that passes leaves no trace in the validation report, so the packs the app
    registers are checked by name; the test below proves a NIST finding would fail."""
    from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

    from app import NAG_PACKS

    assert (AwsSolutionsChecks, NIST80053R5Checks) == NAG_PACKS
    assert synth_report.nag_failures == []


@pytest.mark.parametrize("rule", ["NIST.800.53.R5-IAMNoInlinePolicy"])
def test_nist_pack_really_fails_on_a_finding(tmp_path: Path, rule: str) -> None:
    """Guard: an unacknowledged NIST finding fails synth like an AwsSolutions one."""
    from aws_cdk import App, Stack, Validations
    from aws_cdk import aws_iam as iam
    from cdk_nag import NIST80053R5Checks

    from app import validation_failures
    from local.synth_check import cdk_json_context

    app = App(outdir=str(tmp_path), context=cdk_json_context())
    stack = Stack(app, "Inline")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::b/k"])
    )
    Validations.of(app).add_plugins(NIST80053R5Checks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert any(f.startswith(f"{rule} ") for f in validation_failures(tmp_path))
