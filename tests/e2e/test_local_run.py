"""`make run`'s lifecycle on a small dataset: synth checks, ETL, counts, the training
pipeline on moto, and summary.json."""

from __future__ import annotations

import json

import pytest

from local.run import main

pytestmark = pytest.mark.spark


def test_local_run_writes_balanced_zone_counts(tmp_path, spark, capsys) -> None:
    summary = main(["--rows", "2400", "--out", str(tmp_path / "run")])
    printed = capsys.readouterr().out
    assert "[4/6] Glue job processed -> curated on local Spark: done" in printed
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

    [execution] = written["pipeline"]
    assert execution["status"] == "Succeeded"
    assert [s["name"] for s in execution["steps"]][-1] == "Register"
    assert all(s["seconds"] >= 0 for s in execution["steps"])
    [package] = written["model_packages"]
    assert package["arn"] == execution["model_package_arn"] and package["version"] == 1
    assert package["approval_status"] == "PendingManualApproval"
    assert package["metrics"]["auc"] >= 0.75
    assert "model v1 (PendingManualApproval): auc" in printed

    endpoint = written["endpoint"]
    assert endpoint["model_package_arn"] == package["arn"]  # approved, then served
    assert endpoint["requests"] == 300
    assert endpoint["requests_ok"] == 270 and endpoint["requests_client_error"] == 30
    assert endpoint["requests_server_error"] == 0
    assert 0 < endpoint["p50_ms"] <= endpoint["p99_ms"]
    assert endpoint["capture_files"] >= 1 and endpoint["capture_records"] == 270
