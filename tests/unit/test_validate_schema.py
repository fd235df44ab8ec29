"""`validate-schema`: one line per problem (file, field by name, fix), exit 1, no traceback;
a one-line summary and exit 0 for a valid file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from config.schema import DATASETS_DIR, dataset_names
from config.validate_schema import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", dataset_names())
def test_shipped_datasets_are_valid(name: str, capsys) -> None:
    assert main([name]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"config/datasets/{name}.json: valid: ")


def test_summary_says_what_the_schema_declares(capsys) -> None:
    assert main([str(DATASETS_DIR / "churn.json")]) == 0
    assert capsys.readouterr().out.endswith(
        "valid: customer_churn, binary_classification, target 'churned', 10 features "
        "(5 numeric, 3 categorical, 2 boolean), 4 derived, quality gate auc >= 0.75, "
        "rows keyed by customer_id, partition month from event_time\n"
    )


def test_summary_says_how_rows_are_keyed_without_id_or_event_time(tmp_path: Path, capsys) -> None:
    data = json.loads((DATASETS_DIR / "churn.json").read_text())
    del data["id_column"], data["event_time_column"]
    path = tmp_path / "keyless.json"
    path.write_text(json.dumps(data))
    assert main([str(path)]) == 0
    assert capsys.readouterr().out.endswith(
        "rows keyed by etl_row_id (no id_column: every record is a row), "
        "partition month from the raw file's time (no event_time_column)\n"
    )


def test_each_problem_is_one_line_naming_file_column_and_fix(tmp_path: Path, capsys) -> None:
    data = json.loads((DATASETS_DIR / "house_prices.json").read_text())
    data["features"][4]["type"] = "category"
    data["features"][1]["min"] = 20
    path = tmp_path / "houses.json"
    path.write_text(json.dumps(data))
    assert main([str(path), "churn"]) == 1  # one invalid file fails the run
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        f"{path}: schema.features[bedrooms].min: 20 is greater than max 12; "
        "fix: swap min and max, or correct the wrong one",
        f"{path}: schema.features[neighborhood].type: 'category' is not one of "
        "['numeric', 'categorical', 'boolean']; fix: use 'categorical'",
    ]
    assert lines[2].startswith("config/datasets/churn.json: valid: ")
    assert len(lines) == 3


def test_the_command_exits_1_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "draft.json"
    path.write_text('{\n  "name": "draft", // my dataset\n}\n')
    result = subprocess.run(
        [sys.executable, "-m", "config.validate_schema", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == ""
    assert result.stdout == (
        f"{path}: line 2 column 20: not valid JSON (Expecting property name enclosed in double "
        'quotes); fix: JSON has no comments: delete it (notes belong in a "description" field)\n'
    )


def test_synthetic_hints_are_checked_too(tmp_path: Path, capsys) -> None:
    data = json.loads((DATASETS_DIR / "churn.json").read_text())
    data["target"]["synthetic"]["effects"]["tenure"] = -0.05
    path = tmp_path / "churn.json"
    path.write_text(json.dumps(data))
    assert main([str(path)]) == 1
    assert capsys.readouterr().out == (
        f"{path}: schema.target.synthetic.effects.tenure: names no declared feature; "
        'fix: did you mean "tenure_months"?\n'
    )
