"""docs/bring-your-own-dataset.md tells the truth about its worked example, titanic: its
schema block is the shipped config/datasets/titanic.json, its commands are run here on
the raw files in tests/data/titanic and print what the page shows (validate-schema, and
the run's first steps: hold-out, the Glue jobs, the zone counts), and the full run it
documents is the one tests/e2e/test_own_data.py runs."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from config.schema import DATASETS_DIR, DatasetSchema
from config.validate_schema import check
from config.validate_schema import main as validate_schema
from tests.e2e.test_own_data import CASES, lifecycle
from tests.synth_cache import dataset_configuration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "bring-your-own-dataset.md"
SAMPLE_FILE = "config/datasets/my_dataset.json"
RAW = "tests/data/titanic"


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


def _commands(program: str) -> list[list[str]]:
    """The documented command lines that start with ``program`` (comments stripped)."""
    found = []
    for block in _blocks(""):
        for line in block.splitlines():
            text = line.strip().removeprefix("# or: ").removeprefix("$ ")
            if text.startswith(program):
                found.append(shlex.split(text.split("  #")[0]))
    return found


def _example() -> str:
    return _blocks("json")[0]


def _shown(marker: str) -> list[str]:
    """The documented output block that holds ``marker``, line by line."""
    (block,) = [b for b in _blocks("") if marker in b]
    return block.splitlines()


def test_the_schema_block_is_the_shipped_titanic_file() -> None:
    assert json.loads(_example()) == json.loads((DATASETS_DIR / "titanic.json").read_text())


def test_the_documented_head_is_the_raw_file() -> None:
    ((command, *args),) = _commands("head")
    assert command == "head" and args[:2] == ["-2", f"{RAW}/passengers-1.csv"]
    shown = _shown("$ head -2")[1:]
    assert shown == (ROOT / args[1]).read_text().splitlines()[:2]


def test_the_validate_schema_command_prints_the_documented_line(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    (command,) = [c for c in _commands("python -m config.validate_schema")]
    assert command[3:] == ["config/datasets/titanic.json"]
    assert validate_schema(command[3:]) == 0
    assert capsys.readouterr().out.splitlines() == _shown(": valid: titanic")
    make = [c for c in _commands("make validate-schema") if len(c) == 3]
    assert make == [["make", "validate-schema", "SCHEMA=config/datasets/titanic.json"]]


def test_the_documented_header_suggestion_is_what_the_validator_prints(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """The page's penguins example: the schema without its raw_headers and the published
    file; every line the page shows is printed, in order, and the block it suggests is
    the shipped schema's raw_headers."""
    monkeypatch.chdir(ROOT)
    ((_, _, schema_arg, sample_arg),) = [
        c for c in _commands("make validate-schema") if len(c) == 4
    ]
    assert schema_arg == "SCHEMA=my_penguins.json"
    shipped = json.loads((DATASETS_DIR / "penguins.json").read_text())
    mine = {k: v for k, v in shipped.items() if k != "raw_headers"}
    (tmp_path / "my_penguins.json").write_text(json.dumps(mine))
    sample = sample_arg.removeprefix("SAMPLE=")
    assert validate_schema([str(tmp_path / "my_penguins.json"), "--sample", sample]) == 1
    printed = capsys.readouterr().out.splitlines()
    shown = [line for line in _shown("schema columns found") if line.strip() != "..."]
    position = 0
    for line in shown:
        assert line in printed[position:], line
        position = printed.index(line, position) + 1
    heading = next(line for line in shown if line.startswith("suggested:"))
    suggested = "\n".join(printed[printed.index(heading) + 1 :])
    assert json.loads(suggested) == shipped["raw_headers"]


def test_the_sample_problems_are_what_the_validator_prints(tmp_path: Path) -> None:
    example = json.loads(_example())
    example["id_column"] = "PassengerId"
    example["features"][0]["min"] = 4
    example["quality_gate"]["metric"] = "rmse"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(example))
    commented = tmp_path / "commented.json"
    lines = _example().splitlines()
    assert lines[3].strip() == '"problem_type": "binary_classification",'
    lines[3] = lines[3].rstrip(",") + " // or regression"
    commented.write_text("\n".join(lines))
    printed = [
        line.replace(str(path), SAMPLE_FILE)
        for path in (broken, commented)
        for line in check(path)[1]
    ]
    sample = [line for block in _blocks("") for line in block.splitlines()]
    assert [line for line in sample if line.startswith(f"{SAMPLE_FILE}: ")] == printed


def test_the_documented_raw_columns_are_the_schemas() -> None:
    schema = DatasetSchema.from_json(_example())
    header = ",".join(schema.raw_columns)
    assert any(block.strip() == header for block in _blocks(""))


def test_the_documented_run_is_the_one_the_e2e_test_runs() -> None:
    runs = _commands("python -m local.run")
    assert runs == [["python", "-m", "local.run", "--dataset", "titanic", "--raw", RAW]]
    assert _commands("make run") == [["make", "run", "DATASET=titanic", f"RAW={RAW}"]]
    assert "titanic" in [case.name for case in CASES]  # runs main(--dataset titanic --raw ...)


@pytest.mark.spark
@pytest.mark.synth(dataset_configuration("titanic"))
def test_the_runs_first_steps_print_what_the_page_shows(spark, shared_work, synth_cache) -> None:
    """Steps 2 to 4 of the documented run (hold-out and both Glue jobs) and its zone
    table, as the run of tests/e2e/test_own_data.py on the titanic files printed them (one
    run for both tests)."""
    printed = lifecycle("titanic", shared_work, synth_cache)[1].splitlines()
    documented = _shown("held out of training") + _shown("zone          rows in")
    position = 0
    for line in documented:  # each documented line, in the documented order
        assert line in printed[position:], line
        position = printed.index(line, position) + 1
