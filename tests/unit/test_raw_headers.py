"""Raw headers as the files write them: the schema's ``raw_headers``, the ETL's file plan
under them, the generator writing them, and validate-schema's suggestion from a sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config.header_suggestion import SampleError, match_headers, sample_headers
from config.schema import DATASETS_DIR, DatasetSchema, SchemaError, load_schema
from config.schema_reader import snake_case
from config.validate_schema import main as validate_schema
from glue.raw_files import CSV, JSONL, header_names, parse_lines, plan_file
from local.lake.synthetic import generate_clean, write_raw

PENGUINS = Path(__file__).resolve().parents[2] / "tests/data/penguins/penguins_raw.csv"


def _churn(**changes: Any) -> dict[str, Any]:
    data = json.loads((DATASETS_DIR / "churn.json").read_text())
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Annual Income", "annual_income"),
        ("ClinLR", "clin_lr"),
        ("PID", "pid"),
        ("Culmen Length (mm)", "culmen_length_mm"),
        ("customerID", "customer_id"),
        ("SibSp", "sib_sp"),
        ("1stFlrSF", "c_1st_flr_sf"),
        ("  Body Mass (g) ", "body_mass_g"),
    ],
)
def test_snake_case_splits_humps_and_punctuation(header: str, name: str) -> None:
    assert snake_case(header) == name


def test_the_schema_reads_each_column_under_its_mapped_header() -> None:
    schema = DatasetSchema.from_dict(
        _churn(raw_headers={"customer_id": "Customer ID", "churned": "Churn?"})
    )
    assert schema.raw_header("customer_id") == "Customer ID"
    assert schema.raw_header("tenure_months") == "tenure_months"  # unmapped: its own name
    assert schema.raw_header_names[0] == "Customer ID"
    assert schema.raw_header_names[-1] == "Churn?"
    assert len(schema.raw_header_names) == len(schema.raw_columns)


def test_every_raw_headers_problem_is_reported_with_its_fix() -> None:
    with pytest.raises(SchemaError) as raised:
        DatasetSchema.from_dict(
            _churn(
                raw_headers={
                    "avg_monthly_spend": "Avg",  # derived: never in raw files
                    "age": " Age",
                    "contract": "",
                    "support_calls": "tenure_months",  # another column's own header
                }
            )
        )
    lines = {p.path: (p.message, p.fix) for p in raised.value.problems}
    assert "not a raw column" in lines["schema.raw_headers.avg_monthly_spend"][0]
    assert lines["schema.raw_headers.age"][1].startswith("write 'Age'")
    assert lines["schema.raw_headers.contract"][0] == "must be a non-empty string"
    assert (
        "would name both 'tenure_months' and 'support_calls'"
        in (lines["schema.raw_headers.support_calls"][0])
    )


def test_a_camel_case_column_name_is_told_to_map_its_header() -> None:
    with pytest.raises(SchemaError) as raised:
        DatasetSchema.from_dict(_churn(id_column="CustomerID"))
    [problem] = [p for p in raised.value.problems if p.path == "schema.id_column"]
    assert problem.fix == (
        "rename it to 'customer_id'; the files keep their header: map it with "
        '"raw_headers": {"customer_id": "CustomerID"}'
    )


def test_a_file_plan_finds_columns_under_their_headers_and_names_what_lacks() -> None:
    schema = load_schema("penguins")
    names = header_names(PENGUINS.read_text().splitlines()[0])
    plan = plan_file(schema, "penguins_raw.csv", CSV, names)
    assert not plan.rejected
    assert plan.positions[schema.raw_columns.index("species")] == names.index("Species")
    assert "Species" not in plan.extra and "Comments" in plan.extra
    # The snake_case name is not the header: a file that has only it lacks the column.
    renamed = [("species" if n == "Species" else n) for n in names]
    lacking = plan_file(schema, "renamed.csv", CSV, renamed)
    assert lacking.missing == ("Species",) and "species" in lacking.extra
    assert "lacks required column(s) Species" in lacking.problem


def test_json_lines_records_are_read_by_their_mapped_keys() -> None:
    schema = load_schema("penguins")
    record = {header: "" for header in schema.raw_header_names}
    record.update({"Species": "Gentoo penguin (Pygoscelis papua)", "Island": "Biscoe"})
    plan = plan_file(schema, "p.jsonl", JSONL, sorted(record))
    parsed = parse_lines(schema, plan, [json.dumps(record)])
    assert parsed.columns["species"] == ["Gentoo penguin (Pygoscelis papua)"]
    assert parsed.columns["island"] == ["Biscoe"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_generated_raw_files_use_the_mapped_headers(tmp_path: Path, fmt: str) -> None:
    schema = DatasetSchema.from_dict(
        _churn(raw_headers={"customer_id": "Customer ID", "monthly_charges": "MonthlyCharges"})
    )
    batch = write_raw(schema, generate_clean(schema, 5, seed=3), tmp_path / f"b.{fmt}", fmt=fmt)
    first = batch.path.read_text().splitlines()[0]
    names = header_names(first) if fmt == "csv" else list(json.loads(first))
    assert names == schema.raw_header_names
    plan = plan_file(schema, batch.path.name, CSV if fmt == "csv" else JSONL, names)
    assert not plan.rejected and plan.extra == ()


def test_the_suggestion_maps_each_header_that_differs_only_in_spelling() -> None:
    schema = DatasetSchema.from_dict(_churn())
    headers = [
        "CustomerID",  # two headers that both spell customer_id
        "Customer ID",
        "Event Time",
        "Tenure Months",
        "MonthlyCharges",
        "total_charges",
        "Support-Calls",
        "contract",
        "InternetService",
        "Paperless Billing",
        "SeniorCitizen",
        "Churned",
        "Region",
    ]
    report = match_headers(schema, headers)
    assert report.found == {"total_charges": "total_charges", "contract": "contract"}
    assert report.suggested["event_time"] == "Event Time"
    assert report.suggested["support_calls"] == "Support-Calls"
    assert report.suggested["churned"] == "Churned"
    # Two headers spell customer_id: the suggestion does not guess between them.
    assert sorted(report.unmatched["customer_id"]) == ["Customer ID", "CustomerID"]
    # Absent columns: age and payment_method are nullable, so the file could be read...
    assert {"age", "payment_method"} <= set(report.unmatched)
    assert report.unread == ["CustomerID", "Customer ID", "Region"]
    assert not report.complete(schema)  # ...but not before the mapping is pasted in.


def test_a_sample_that_the_schema_reads_as_it_is_passes(tmp_path: Path, capsys) -> None:
    schema = load_schema("churn")
    optional = [c for c in schema.raw_columns if c not in schema.required_raw_columns]
    sample = tmp_path / "sample.jsonl"
    record = {c: "" for c in schema.raw_columns if c not in optional}
    sample.write_text(json.dumps(record) + "\n")
    assert sample_headers(sample) == list(record)
    assert validate_schema(["churn", "--sample", str(sample)]) == 0
    printed = capsys.readouterr().out
    assert "(nullable: read as missing)" in printed and "suggested" not in printed


def test_a_sample_without_a_header_line_is_a_clear_error(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("\n")
    with pytest.raises(SampleError, match="not a header"):
        sample_headers(empty)
    assert validate_schema(["churn", "--sample", str(empty)]) == 1
    assert "the first line is not a header" in capsys.readouterr().out
    with pytest.raises(SampleError, match="no such file"):
        sample_headers(tmp_path / "absent.csv")


def test_a_sample_that_is_not_utf8_is_a_clear_error(tmp_path: Path, capsys) -> None:
    latin = tmp_path / "export.csv"
    latin.write_bytes("Kündigung,Alter\n1,40\n".encode("latin-1"))
    assert validate_schema(["churn", "--sample", str(latin)]) == 1
    assert "not UTF-8 (byte 1): save it as UTF-8" in capsys.readouterr().out
