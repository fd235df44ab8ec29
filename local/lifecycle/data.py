"""Steps 2 to 4: the raw data (generated, or the user's files with live traffic held out)
through both Glue jobs into the curated zone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from config.schema import DatasetSchema
from glue.validate import ProcessedCounts
from local.lake.etl import LocalLake, run_processed_to_curated, run_raw_to_processed
from local.lake.synthetic import DirtyRows, RawBatch, generate_clean, write_raw
from local.lake.user_files import StagedFiles, stage_user_files
from local.lifecycle.steps import (
    MIN_ROWS_PER_WINDOW,
    USER_HOLDOUT_SHARE,
    WINDOW_SHARE_OF_BATCH,
    UserTraffic,
    merge_counts,
    step,
    write_summary,
)
from local.report import print_batches, print_file_report

DIRTY = DirtyRows(
    missing_required=40,
    wrong_type=30,
    out_of_range=25,
    unknown_category=20,
    malformed=15,
    duplicates=60,
)


@dataclass(frozen=True)
class CuratedZone:
    """What step 4 did: its time and the curated zone's summary."""

    seconds: float
    zone: dict[str, Any]


def curated_zone(lake: LocalLake, schema: DatasetSchema, schema_path: Path) -> CuratedZone:
    """Step 4: the processed -> curated job; the curated zone's summary."""
    curated, seconds = step(
        4,
        "Glue job processed -> curated on local Spark",
        lambda: run_processed_to_curated(lake, schema_path),
    )
    curated_frame = pd.read_parquet(lake.curated)
    return CuratedZone(
        seconds,
        {
            **curated.as_dict(),
            "columns": list(curated_frame.columns),
            "target_mean": round(float(curated_frame[schema.target.name].mean()), 4),
        },
    )


def generate(
    lake: LocalLake, schema: DatasetSchema, dirty: DirtyRows, rows: int, seed: int
) -> list[RawBatch]:
    """Two raw batches with known dirty rows: a CSV and a quarter-size JSON lines file."""
    first = generate_clean(schema, rows, seed=seed)
    second = generate_clean(schema, max(rows // 4, 1), seed=seed + 1)
    return [
        write_raw(schema, first, lake.raw / "batch-0001.csv", dirty=dirty, seed=seed),
        write_raw(
            schema, second, lake.raw / "batch-0002.jsonl", dirty=dirty, seed=seed + 1, fmt="jsonl"
        ),
    ]


def generated_data(
    lake: LocalLake,
    schema: DatasetSchema,
    schema_path: Path,
    summary: dict[str, Any],
    *,
    rows: int,
    seed: int,
) -> int:
    """Steps 2 to 4 on generated data; return the rows per monitor window."""
    dirty = DIRTY.possible_for(schema)
    batches, seconds = step(
        2,
        "Generate raw data with known dirty rows",
        lambda: generate(lake, schema, dirty, rows, seed),
    )
    summary["steps"]["generate"] = round(seconds, 2)
    print_batches(batches)

    # No format given: the job reads each file by its extension, as deployed.
    processed, seconds = step(
        3,
        "Glue job raw -> processed on local Spark",
        lambda: [run_raw_to_processed(lake, schema_path, b.path) for b in batches],
    )
    summary["steps"]["raw_to_processed"] = round(seconds, 2)
    curated = curated_zone(lake, schema, schema_path)
    summary["steps"]["processed_to_curated"] = round(curated.seconds, 2)

    expected = {kind: 2 * count for kind, count in dirty.as_dict().items()}
    summary["zones"] = {
        "raw": {
            "files": [b.path.name for b in batches],
            "rows": sum(b.total_rows for b in batches),
            "injected_dirty_rows": expected,
        },
        "processed": {**merge_counts(processed), "batches": [c.as_dict() for c in processed]},
        "curated": curated.zone,
    }
    return max(MIN_ROWS_PER_WINDOW, rows // WINDOW_SHARE_OF_BATCH)


def user_data(
    raw: Path,
    out: Path,
    lake: LocalLake,
    schema: DatasetSchema,
    schema_path: Path,
    summary: dict[str, Any],
) -> UserTraffic:
    """Steps 2 to 4 on the user's files: hold out live traffic, then both Glue jobs."""
    holdout_lake = LocalLake(out / "holdout", aws_env={}, glue_jobs=lake.glue_jobs)

    def stage() -> StagedFiles:
        return stage_user_files(raw, lake.raw, holdout_lake.raw, share=USER_HOLDOUT_SHARE)

    staged, seconds = step(2, "Read your raw files; hold out live traffic", stage)
    summary["steps"]["stage"] = round(seconds, 2)
    print(
        f"      {raw}: {len(staged.files)} file(s), {staged.records} records; "
        f"{staged.held_out} ({staged.share:.0%}, chosen by a hash of each record) held out "
        "of training: the endpoint's traffic, the monitor's windows and ground truth"
    )
    (processed, held), seconds = step(
        3,
        "Glue job raw -> processed on local Spark",
        lambda: process_user_files(lake, holdout_lake, schema_path, staged),
    )
    summary["steps"]["raw_to_processed"] = round(seconds, 2)
    print_file_report(processed, lake.raw)
    if processed.valid_rows == 0:
        write_summary(out, {**summary, "processed": processed.as_dict()})
        raise SystemExit(
            f"no valid rows in {raw}: {processed.quarantined_rows} quarantined "
            f"({', '.join(f'{k} {v}' for k, v in processed.quarantined_by_reason.items())}); "
            f"see {lake.quarantine} for each row's reason"
        )
    curated = curated_zone(lake, schema, schema_path)
    summary["steps"]["processed_to_curated"] = round(curated.seconds, 2)
    summary["zones"] = {
        "raw": {
            "source": str(raw),
            "files": [str(f) for f in staged.files],
            "records": staged.records,
            "held_out": staged.held_out,
            "rows": processed.input_rows,
        },
        "processed": {**merge_counts([processed]), "batches": [processed.as_dict()]},
        "curated": curated.zone,
        "held_out": held.as_dict(),
    }
    return held_out_traffic(holdout_lake, schema, staged, held)


def process_user_files(
    lake: LocalLake, holdout_lake: LocalLake, schema_path: Path, staged: StagedFiles
) -> tuple[ProcessedCounts, ProcessedCounts]:
    """Step 3 on the user's files: the training records, then the held-out ones."""
    trained = run_raw_to_processed(lake, schema_path, lake.raw)
    held = (
        run_raw_to_processed(holdout_lake, schema_path, holdout_lake.raw)
        if staged.held_out
        else ProcessedCounts(0, 0, 0, 0)
    )
    return trained, held


def held_out_traffic(
    holdout_lake: LocalLake, schema: DatasetSchema, staged: StagedFiles, held: ProcessedCounts
) -> UserTraffic:
    """The held-out valid rows, each distinct one once: the endpoint's and monitor's traffic."""
    frame = pd.read_parquet(holdout_lake.processed) if held.valid_rows else pd.DataFrame()
    # Ground truth is joined to a captured request by its body: rows whose features repeat
    # another's would be ambiguous (and may disagree on the label), so each is sent once.
    unique = (
        frame.drop_duplicates(subset=schema.feature_names).reset_index(drop=True)
        if held.valid_rows
        else frame
    )
    if len(unique) < 3:
        raise SystemExit(
            f"only {len(unique)} distinct valid held-out row(s) from {staged.held_out} "
            "held-out records: the endpoint and the monitor need more; add data"
        )
    print(
        f"      held out: {held.input_rows} records -> {held.valid_rows} valid rows "
        f"({held.quarantined_rows} quarantined); counts balance: {held.balanced}"
    )
    if len(unique) < len(frame):
        repeats = len(frame) - len(unique)
        print(f"      {repeats} held-out row(s) repeat another's features: each is sent once")
    return UserTraffic(unique)
