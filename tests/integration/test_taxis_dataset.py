"""The taxis sample (tests/data/taxis: regression, no id column, a timestamp feature and
nullable categories, one CSV and one JSON lines file) through the platform's own code:
the Glue jobs on local Spark (counts balance, every trip a row of its own), then the
training pipeline's steps (preprocess, train, evaluate: a model that explains most of
the fare), then the inference hooks scoring raw trips and refusing a bad time."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from config.schema import DATASETS_DIR, load_schema
from inference.inference import model_fn, transform_fn
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from training import evaluate, preprocess, train

pytestmark = pytest.mark.spark

DATA = Path(__file__).resolve().parents[1] / "data" / "taxis"
SCHEMA_PATH = DATASETS_DIR / "taxis.json"
SCHEMA = load_schema(SCHEMA_PATH)
TRIPS = 600  # 400 CSV rows + 200 JSON lines (tests/data/taxis/README.md)


def test_taxis_through_the_etl_the_pipeline_steps_and_the_endpoint_hooks(
    spark, tmp_path: Path
) -> None:
    lake = LocalLake(tmp_path / "lake")
    counts = run_raw_to_processed(lake, SCHEMA_PATH, DATA)
    assert counts.balanced and counts.input_rows == TRIPS
    # No id column: nothing is a duplicate; the sample's trips are all valid.
    assert counts.duplicates_dropped == 0 and counts.quarantined_rows == 0, counts.as_dict()
    assert counts.extra_columns  # tip, tolls, total and the zones are not features
    curated = run_processed_to_curated(lake, SCHEMA_PATH)
    assert curated.curated_rows == TRIPS
    frame = pd.read_parquet(lake.curated)
    assert frame[SCHEMA.row_key].nunique() == TRIPS
    assert str(frame["dropoff"].dtype).startswith("datetime64")

    prep = tmp_path / "prep"
    split = preprocess.preprocess(
        input_dir=lake.curated,
        schema_path=SCHEMA_PATH,
        output_dir=prep,
        args=preprocess.parse_args([]),
    )
    assert split["train"] + split["validation"] + split["test"] == TRIPS
    model_dir, output = tmp_path / "model", tmp_path / "train-output"
    train.main(
        [
            f"--train={prep / 'train'}",
            f"--validation={prep / 'validation'}",
            f"--model-dir={model_dir}",
            f"--output-data-dir={output}",
            f"--checkpoint-dir={tmp_path / 'checkpoints'}",
            "--nthread=1",
        ]
    )
    packaged = tmp_path / "packaged"
    packaged.mkdir()
    with tarfile.open(packaged / "model.tar.gz", "w:gz") as archive:
        for path in sorted(model_dir.rglob("*")):
            archive.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    report = evaluate.evaluate(
        model_dir=packaged, test_dir=prep / "test", output_dir=tmp_path / "evaluation"
    )
    r2 = report["regression_metrics"]["r2"]["value"]
    assert r2 >= SCHEMA.quality_gate.threshold, report["regression_metrics"]

    model = model_fn(str(model_dir))
    trip = "2019-03-08T00:20:58Z,1,1.4,yellow,credit card,Manhattan,Manhattan"
    far = "2019-03-08T01:05:00Z,1,17.5,yellow,credit card,Queens,Manhattan"
    reply = transform_fn(model, f"{trip}\n{far}\n", "text/csv", "application/json")
    assert reply.status == 200, reply.body
    near, far = json.loads(reply.body)["predictions"]
    assert near["value"] < far["value"]  # a 17.5-mile trip costs more than a 1.4-mile one
    bad = transform_fn(model, trip.replace("2019-03-08T00:20:58Z", "8 March"), "text/csv", "")
    assert bad.status == 400 and b"ISO 8601" in bad.body
