"""`make run`'s lifecycle on a small dataset: synth checks, ETL, counts, the training
pipeline on moto, serving, the monitoring loop that retrains (shifted traffic -> monitor ->
alarm -> rule -> handler -> v2 with the feedback), the dashboard page drawn from the
run's CloudWatch, and summary.json. One run: the slowest test, so everything about the
lifecycle is asserted here.

Step 1 (synth with cdk-nag and cfn-lint) is the very call the session's ``synth_report``
makes (`synth_and_check(out)`, no extra context): the run gets a copy of that assembly and
its findings instead of the same minutes of synth again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.metrics import QUARANTINE_REASONS
from config.schema import DEFAULT_DATASET, load_schema
from local import run
from local.run import main
from local.synth_check import SynthReport
from tests.synth_cache import copy_report

pytestmark = pytest.mark.spark


@pytest.fixture
def synthesized_once(synth_report, monkeypatch) -> None:
    """`make run`'s step 1 answered from the session's synth of the same configuration."""

    def copy_of_session_synth(outdir: Path, extra_context: object = None) -> SynthReport:
        assert extra_context in (None, {"dataset": DEFAULT_DATASET}), "the default configuration"
        return copy_report(synth_report, outdir)

    monkeypatch.setattr(run, "synth_and_check", copy_of_session_synth)


@pytest.mark.usefixtures("synthesized_once")
def test_local_run_lifecycle_and_monitoring_loop(tmp_path, spark, capsys) -> None:
    summary = main(["--rows", "2400", "--out", str(tmp_path / "run")])
    printed = capsys.readouterr().out
    assert "[4/11] Glue job processed -> curated on local Spark: done" in printed
    assert "counts balance (in = valid + quarantined + duplicates): True" in printed

    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert written == summary
    assert written["synth"]["nag_failures"] == [] and written["synth"]["cfn_lint_findings"] == []
    zones = written["zones"]
    injected = zones["raw"]["injected_dirty_rows"]
    processed = zones["processed"]
    assert processed["quarantined_by_reason"] == {
        "malformed_record": injected["malformed"],
        "missing_required": injected["missing_required"],
        "out_of_range": injected["out_of_range"],
        "unknown_category": injected["unknown_category"],
        "wrong_type": injected["wrong_type"],
    }
    assert processed["duplicates_dropped"] == injected["duplicates"]
    assert processed["input_rows"] == zones["raw"]["rows"]
    assert processed["input_rows"] == (
        processed["valid_rows"] + processed["quarantined_rows"] + processed["duplicates_dropped"]
    )
    assert zones["curated"]["curated_rows"] == 2400 + 600
    assert "avg_monthly_spend" in zones["curated"]["columns"]

    first, retrain = written["pipeline"]
    walls = (written["steps"]["training_pipeline"], written["steps"]["retrain_pipeline"])
    for execution, wall in zip((first, retrain), walls, strict=True):
        assert execution["status"] == "Succeeded"
        steps = execution["steps"]
        assert [s["name"] for s in steps][-1] == "Register"
        # Each job step ran its entry point in a process of its own: measurable time.
        jobs = [s for s in steps if s["type"] in ("Processing", "Training")]
        assert len(jobs) == 4 and all(s["seconds"] > 0 for s in jobs), jobs
        # The steps ran one after another within the run's step: their times fit in its
        # wall clock (each figure is rounded to 10 ms).
        assert 0 < sum(s["seconds"] for s in steps) <= wall + 0.01 * (len(steps) + 1)
    v1, v2 = written["model_packages"]
    assert v1["arn"] == first["model_package_arn"] and v1["version"] == 1
    assert v1["approval_status"] == "Approved"  # approved before it was served
    assert v1["metrics"]["auc"] >= 0.75
    assert "model v1 (PendingManualApproval): auc" in printed

    endpoint = written["endpoint"]
    assert endpoint["model_package_arn"] == v1["arn"]  # approved, then served
    assert endpoint["requests"] == 300
    assert endpoint["requests_ok"] == 270 and endpoint["requests_client_error"] == 30
    assert endpoint["requests_server_error"] == 0
    assert 0 < endpoint["p50_ms"] <= endpoint["p99_ms"]
    assert endpoint["capture_files"] >= 1 and endpoint["capture_records"] == 270

    monitoring = written["monitoring"]
    shifted = set(monitoring["shift"])
    assert len(shifted) == 3
    # Both windows of shifted traffic: exactly the shifted features, nothing else.
    assert [set(w["features_drifted"]) for w in monitoring["windows"]] == [shifted, shifted]
    assert set(monitoring["drifted_features"]) == shifted
    for window in monitoring["windows"]:
        assert window["requests_ok"] == window["ground_truth_labels"] == window["requests"]
        assert window["model_quality"] is not None  # ground truth joined capture
        assert window["feedback"].startswith("s3://local-raw/incoming/feedback/")
        # The model-drift checks ran, in the image's environment, against v1's registered
        # baselines: bias judged on the labelled rows; the shift moves feature values but
        # not which features lead v1's answers (contract), so no attribution drift.
        assert window["bias_drift"]["judged"] > 0
        sampled = window["attribution_drift"]["rows"]
        assert sampled == min(2000, window["rows_analyzed"])  # every row, up to the cap
        assert min(window["attribution_drift"]["ndcg"].values()) >= 0.9
    assert monitoring["report"].endswith("report.html")
    assert (tmp_path / "run").resolve() in Path(monitoring["report"]).resolve().parents
    assert Path(monitoring["report"]).is_file()
    # One run alone is 1 of the 2 datapoints the alarm needs; the second run alarms.
    assert [w["alarm_state"] for w in monitoring["windows"]] == ["OK", "ALARM"]
    assert monitoring["alarm"]["state"] == "ALARM"
    [rule] = monitoring["rule_matches"]
    assert rule.startswith("RetrainAlarmRule")
    # The alarm makes the retraining due; the curated job's success starts it.
    assert monitoring["retrain"]["decision"] == "waiting_for_curated"
    assert "execution_arn" not in monitoring["retrain"]
    feedback = monitoring["feedback"]
    assert feedback["decision"]["decision"] == "started"
    assert feedback["decision"]["execution_arn"] == retrain["arn"]
    assert feedback["decision"]["curated_snapshot"] == (
        f"processed_to_curated/{feedback['curated_run']}"
    )
    assert monitoring["duplicate"] == {
        "duplicate": True,
        "decision": "waiting_for_curated",
        "new_executions": 0,
    }
    labelled = sum(w["ground_truth_labels"] for w in monitoring["windows"])
    assert feedback["rows"] == labelled and feedback["valid_rows"] == labelled
    assert feedback["curated_rows"] == 2400 + 600 + labelled
    assert monitoring["v2"]["arn"] == v2["arn"] == retrain["model_package_arn"]
    assert monitoring["v2"]["version"] == 2
    assert monitoring["v2"]["approval_status"] == "PendingManualApproval"
    holdout = monitoring["holdout_metrics"]
    assert holdout["v2"]["auc"] > holdout["v1"]["auc"]
    # v2 as the challenger of v1 on the same rows: McNemar's exact test, its verdict.
    paired = holdout["paired"]
    assert paired["test"] == "McNemar's exact test" and paired["rows"] == holdout["rows"]
    assert 0 <= paired["p_value"] <= 1
    wins, losses = paired["details"].values()
    expected = (
        "no significant difference"
        if paired["p_value"] >= paired["alpha"]
        else ("challenger better" if wins > losses else "challenger worse")
    )
    assert paired["verdict"] == expected
    assert f"v2 against v1: {paired['line']}" in printed
    assert "handler decision: waiting_for_curated" in printed
    assert "handler decision: started" in printed
    # One artifact, Dev to Prod: Prod's synthesized model serves the bytes Dev approved.
    promotion = written["promotion"]
    assert promotion["same_bytes"] and promotion["same_container"]
    assert promotion["prod_package_arn"] == promotion["approved_arn"]
    assert f"model data sha256 {promotion['approved_sha256']}" in printed
    assert "same bytes" in printed
    assert "[local stand-in: CloudWatch alarm evaluation] mlops-dev-churn-drift: OK -> ALARM" in (
        printed
    )

    # The dashboard page: every metric of the synthesized dashboard that the run can
    # produce has datapoints in the run's CloudWatch (put by the project's code, or by
    # the stand-ins that play AWS's services); the others say why, or are events that
    # did not happen in this run.
    dashboard = written["dashboard"]
    assert Path(dashboard["page"]) == (tmp_path / "run" / "dashboard.html").resolve()
    assert Path(dashboard["page"]).is_file()
    assert "[11/11] Draw the synthesized Operations dashboard" in printed
    rows = [m for g in dashboard["graphs"] for m in g["metrics"]]

    def key(metric: dict) -> tuple[str, str, str]:
        dims = metric["dimensions"][0] if metric["dimensions"] else {}
        which = ("Decision", "Reason", "JobName", "FunctionName")
        return metric["namespace"], metric["name"], next((dims[k] for k in which if k in dims), "")

    with_data = {key(m) for m in rows if m["datapoints"]}
    silent = {key(m) for m in rows if not m["datapoints"] and not m["note"]}
    pipelines = "AWS/Sagemaker/ModelBuildingPipeline"
    assert silent == {
        (pipelines, "ExecutionFailed", ""),
        (pipelines, "ExecutionStopped", ""),
        # The generated batches have every column: no file is quarantined whole.
        ("MLOps/DataLake", "RowsQuarantined", "missing_columns"),
        *(
            ("MLOps/Retraining", "RetrainDecision", decision)
            for decision in (
                "skipped_running",
                "skipped_cooldown",
                "skipped_foreign_alarm",
                "rejected_malformed",
            )
        ),
    }
    features = [f.name for f in load_schema("churn").features]
    produced = {
        *(
            ("AWS/SageMaker", name, "")
            for name in (
                "Invocations",
                "Invocation4XXErrors",
                "Invocation5XXErrors",
                "InvocationsPerInstance",
            )
        ),
        *(
            (pipelines, name, "")
            for name in ("ExecutionStarted", "ExecutionSucceeded", "ExecutionDuration")
        ),
        *(("MLOps/DataLake", n, "") for n in ("RowsRead", "RowsValid", "DuplicatesDropped")),
        *(
            ("MLOps/DataLake", "RowsQuarantined", reason)
            for reason in QUARANTINE_REASONS
            if reason != "missing_columns"  # whole files: the generated ones are complete
        ),
        *(
            ("Glue", f"glue.driver.aggregate.{name}", job)
            for name in ("numCompletedTasks", "numFailedTasks")
            for job in ("raw_to_processed", "processed_to_curated")
        ),
        *(
            ("aws/sagemaker/Endpoints/data-metrics", f"feature_baseline_drift_{f}", "")
            for f in features
        ),
        *(
            ("MLOps/Monitoring", name, "")
            for name in (
                "FeaturesDrifted",
                "DataQualityViolations",
                "RowsAnalyzed",
                "ModelQualityViolation",
                "auc",
            )
        ),
        ("MLOps/Retraining", "RetrainDecision", "started"),
        ("MLOps/Retraining", "RetrainDecision", "waiting_for_curated"),
        ("AWS/Lambda", "Invocations", "retrain-trigger"),
        ("AWS/Lambda", "Errors", "retrain-trigger"),
    }
    assert produced - with_data == set()
    graphs = {g["title"]: g for g in dashboard["graphs"]}
    assert graphs["Invocations and errors"]["lines"] == 3  # invocations, 4xx, 5xx (all 0)
    assert graphs["Instances in service"]["lines"] == 1
