"""Outputs use the field names Model Monitor documents for its files."""

from __future__ import annotations

import json

from monitoring.constraint_checks import DOCUMENTED_CHECKS, RANGE_CHECK
from monitoring.monitor import WindowAnalyzer, compare, write_outputs
from tests.unit.monitoring.conftest import SHIFT

# "Schema for Statistics (statistics.json file)", SageMaker developer guide.
STATISTICS_TOP = {"version", "dataset", "features"}
FEATURE_KEYS = {"name", "inferred_type", "numerical_statistics", "string_statistics"}
INFERRED_TYPES = {"Integral", "Fractional", "String", "Unknown"}
NUMERIC_KEYS = {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
STRING_KEYS = {"common", "distinct_count", "distribution"}
# "Schema for Violations (constraint_violations.json file)".
VIOLATION_KEYS = {"feature_name", "constraint_check_type", "description"}


def test_outputs_follow_the_documented_schemas(schema, baseline, traffic, tmp_path) -> None:
    lines = [r.line for r in traffic(3_000, seed=6, shift=SHIFT)]
    lines.append(lines[0].replace('"data":"', '"data":"-5,', 1))  # one extra column
    analyzer = WindowAnalyzer(schema=schema, baseline=baseline)
    analyzer.consume(lines)
    result = compare(analyzer)
    write_outputs(tmp_path, analyzer, result, {"rows_analyzed": analyzer.rows})

    stats = json.loads((tmp_path / "statistics.json").read_text())
    assert set(stats) == STATISTICS_TOP and stats["dataset"] == {"item_count": 3_000}
    for feature in stats["features"]:
        assert set(feature) <= FEATURE_KEYS and feature["inferred_type"] in INFERRED_TYPES
        if "numerical_statistics" in feature:
            numeric = feature["numerical_statistics"]
            assert set(numeric) == NUMERIC_KEYS
            assert set(numeric["common"]) == {"num_present", "num_missing"}
            kll = numeric["distribution"]["kll"]
            assert set(kll) == {"buckets", "sketch"}
            assert all(set(b) == {"lower_bound", "upper_bound", "count"} for b in kll["buckets"])
            assert set(kll["sketch"]) == {"parameters", "data"}
            assert sum(b["count"] for b in kll["buckets"]) == numeric["common"]["num_present"]
        else:
            string = feature["string_statistics"]
            assert set(string) == STRING_KEYS
            buckets = string["distribution"]["categorical"]["buckets"]
            assert all(set(b) == {"value", "count"} for b in buckets)

    violations = json.loads((tmp_path / "constraint_violations.json").read_text())
    assert set(violations) == {"violations"}
    checks = {v["constraint_check_type"] for v in violations["violations"]}
    assert all(set(v) == VIOLATION_KEYS for v in violations["violations"])
    assert checks <= {*DOCUMENTED_CHECKS, RANGE_CHECK}
    assert {"baseline_drift_check", "extra_column_check"} <= checks
    page = (tmp_path / "report.html").read_text()
    for name in SHIFT:
        assert (tmp_path / f"drift_{name}.png").stat().st_size > 5_000
        assert f"drift_{name}.png" in page


def test_type_range_and_domain_violations(schema, baseline, traffic) -> None:
    lines = [r.line for r in traffic(500, seed=7)]
    good = "12,70.5,800,1,45,one-year,dsl,credit-card,true,false"
    bad = [
        good.replace("12,", "-3,", 1),  # negative and below the schema's minimum
        good.replace("12,", "7.5,", 1),  # a fraction where the baseline is Integral
        good.replace("70.5", "abc"),  # not a number
        good.replace("one-year", "gold"),  # outside the domain
    ]
    template = lines[0]
    start = template.index('"data":"') + len('"data":"')
    end = template.index('"', start)
    lines += [template[:start] + body + template[end:] for body in bad]
    analyzer = WindowAnalyzer(schema=schema, baseline=baseline)
    analyzer.consume(lines)
    found = {(v["feature_name"], v["constraint_check_type"]) for v in compare(analyzer).violations}
    assert found == {
        ("tenure_months", "range_check"),
        ("tenure_months", "data_type_check"),
        ("monthly_charges", "data_type_check"),
        ("contract", "categorical_values_check"),
    }
