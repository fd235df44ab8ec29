"""docs/bring-your-own-dataset.md tells the truth: its schema example is valid JSON that
passes validate-schema and declares what the shipped house_prices.json declares, its
sample validator output is what the validator prints, and its CSV header is the raw
column order the ETL expects."""

from __future__ import annotations

import json
from pathlib import Path

from config.schema import DATASETS_DIR, DatasetSchema
from config.validate_schema import check

DOC = Path(__file__).resolve().parents[2] / "docs" / "bring-your-own-dataset.md"
SAMPLE_FILE = "config/datasets/my_dataset.json"


def _blocks(language: str) -> list[str]:
    """The doc's fenced code blocks in ``language`` ("" for those without one)."""
    blocks: list[str] = []
    current: list[str] | None = None
    current_language = ""
    for line in DOC.read_text().splitlines():
        fence = line.strip()
        if fence.startswith("```") and current is None:
            current, current_language = [], fence[3:]
        elif fence == "```" and current is not None:
            if current_language == language:
                blocks.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _example() -> str:
    return _blocks("json")[0]


def test_the_example_passes_validate_schema(tmp_path: Path) -> None:
    path = tmp_path / "house_prices.json"
    path.write_text(_example())
    valid, lines = check(path)
    assert valid, lines
    assert lines == [
        f"{path}: valid: house_prices, regression, target 'sale_price', 6 features "
        "(4 numeric, 1 categorical, 1 boolean), 3 derived, quality gate r2 >= 0.5, "
        "rows keyed by listing_id, partition month from sold_at"
    ]


def test_the_example_is_the_shipped_file_without_synthetic_hints() -> None:
    shipped = json.loads((DATASETS_DIR / "house_prices.json").read_text())
    shipped.pop("description")
    for part in [shipped["target"], *shipped["features"]]:
        part.pop("synthetic", None)
    assert json.loads(_example()) == shipped


def test_the_sample_output_is_what_the_validator_prints(tmp_path: Path) -> None:
    example = json.loads(_example())
    example["features"][1]["min"] = 20
    example["quality_gate"]["metric"] = "auc"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(example))
    commented = tmp_path / "commented.json"
    lines = _example().splitlines()
    lines[2] = lines[2].rstrip(",") + " // or binary_classification"
    commented.write_text("\n".join(lines))
    printed = [
        line.replace(str(path), SAMPLE_FILE)
        for path in (broken, commented)
        for line in check(path)[1]
    ]
    sample = [
        line
        for block in _blocks("")
        for line in block.splitlines()
        if line.startswith(f"{SAMPLE_FILE}: ")
    ]
    assert sample == printed


def test_the_documented_csv_header_is_the_raw_column_order() -> None:
    schema = DatasetSchema.from_json(_example())
    header = ",".join(schema.raw_columns)
    assert any(block.strip() == header for block in _blocks(""))
