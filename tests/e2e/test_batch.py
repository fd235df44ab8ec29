"""`make batch DATASET=penguins RAW=tests/data/penguins`: the user's files through the ETL,
v1 trained, registered and approved, then the synthesized batch scoring pipeline scores
the curated zone through the image. A multiclass dataset, so every answer column (one
probability per class, then the class) must survive the transform's output filter.
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import pandas as pd
import pytest

from config.schema import load_schema
from local import run
from local.run import main
from local.synth_check import SynthReport
from stacks.constructs.batch_definition import answer_columns
from tests.synth_cache import copy_report, dataset_configuration

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
DATASET = "penguins"


@pytest.mark.synth(dataset_configuration(DATASET))
def test_make_batch_scores_every_curated_row_once(spark, synth_cache, tmp_path, monkeypatch):
    session_synth = synth_cache.report(dataset_configuration(DATASET))

    def copy_of_session_synth(outdir: Path, extra_context: object = None) -> SynthReport:
        assert extra_context == {"dataset": DATASET}
        return copy_report(session_synth, outdir)

    monkeypatch.setattr(run, "synth_and_check", copy_of_session_synth)
    monkeypatch.chdir(ROOT)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        summary = main(
            [
                "--batch",
                "--dataset",
                DATASET,
                "--raw",
                f"tests/data/{DATASET}",
                "--out",
                str(tmp_path / "out"),
            ]
        )
    print(printed.getvalue())
    assert "endpoint" not in summary and "monitoring" not in summary  # batch only
    batch = summary["batch"]
    assert batch["status"] == "Succeeded", batch["failure_reason"]
    curated = pd.read_parquet(summary["paths"]["curated"])
    schema = load_schema(DATASET)
    assert batch["input_rows"] == batch["output_rows"] == len(curated)
    assert batch["keyed"]
    lines = [
        line.split(",")
        for path in sorted(Path(batch["scores_dir"]).iterdir())
        for line in path.read_text().splitlines()
    ]
    assert sorted(line[0] for line in lines) == sorted(curated[schema.row_key].astype(str))
    columns = answer_columns(schema)
    classes = list(schema.target.classes)
    for line in lines:
        assert len(line) == 1 + len(columns)  # the key, then every answer column
        probabilities = [float(v) for v in line[1:-1]]
        assert math.isclose(sum(probabilities), 1.0, abs_tol=1e-4)
        assert line[-1] == classes[probabilities.index(max(probabilities))]
    assert "[local stand-in: batch transform]" in printed.getvalue()
