"""raw -> processed: enforce the dataset schema, quarantine what fails, drop stale duplicates.

Every raw record ends in exactly one place, and each place is counted on its own::

    input_rows = valid_rows + quarantined_rows + duplicates_dropped

``input_rows`` comes from the files' text (non-blank lines, less one header line per CSV
file), the others from the rows the job writes and drops. A batch whose counts do not
balance is refused before anything is written (``RowsLostError``).

Values are judged (the validating pass, ``glue/annotate.py``) by the value rules of
``features/values.py`` (the functions inference calls), run on Arrow batches in the
Python workers (``glue/verdicts.py``); the lines are split into columns by header name
(``glue/raw_files.py``). A rejected row keeps its raw values (as text) and its line, the
reason (the first check it fails: malformed_record, missing_required, wrong_type,
out_of_range, unknown_category; or missing_columns for every record of a file whose
header lacks a required column), the column that failed and the rule's message.

A dataset without an ``id_column`` has no duplicates: every record is a row of its own,
keyed by ``etl_row_id``, a hash of its file's path under the job's input path (the raw
zone), its text and its occurrence among the identical records of that file (identical
records are interchangeable, so the keys of a file do not depend on how Spark splits it,
and loading the file again gives the same keys). The zone's own location is left out of
the key: a lake copied to another bucket or folder keeps its keys, and so its splits. A
dataset without an ``event_time_column`` partitions a row by its raw file's own time
(the file system's modification time: S3 LastModified), never the run's clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from config.schema import PARTITION_COLUMN, ROW_KEY_COLUMN, DatasetSchema
from glue.annotate import (
    FILE_TIME,
    RAW_PREFIX,
    RAW_RECORD,
    REASON,
    REASON_COLUMN,
    REASON_DETAIL,
    SOURCE_FILE,
    annotate,
    list_files,
    plan_files,
)
from glue.raw_files import FilePlan

_RANK = "_rank"


@dataclass
class ProcessedCounts:
    """What raw -> processed did with its input; ``balanced`` is the no-loss invariant.

    Each count is taken on its own: ``input_rows`` from the files' text, ``valid_rows``
    from the rows written, ``quarantined_rows`` from the rows rejected and
    ``duplicates_dropped`` from the rows superseded by a newer event of the same id
    (always 0 for a dataset without an id column).
    """

    input_rows: int
    valid_rows: int
    quarantined_rows: int
    duplicates_dropped: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    quarantined_by_column: dict[str, int] = field(default_factory=dict)
    rejected_files: dict[str, str] = field(default_factory=dict)
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    skipped_files: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.input_rows == self.valid_rows + self.quarantined_rows + self.duplicates_dropped

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_rows": self.input_rows,
            "valid_rows": self.valid_rows,
            "quarantined_rows": self.quarantined_rows,
            "duplicates_dropped": self.duplicates_dropped,
            "quarantined_by_reason": self.quarantined_by_reason,
            "quarantined_by_column": self.quarantined_by_column,
            "rejected_files": self.rejected_files,
            "extra_columns": self.extra_columns,
            "skipped_files": self.skipped_files,
            "balanced": self.balanced,
        }


class RowsLostError(RuntimeError):
    """The counts of a batch do not balance: nothing was written."""

    def __init__(self, counts: ProcessedCounts) -> None:
        super().__init__(
            f"counts do not balance: the files hold {counts.input_rows} records but "
            f"{counts.valid_rows} valid + {counts.quarantined_rows} quarantined + "
            f"{counts.duplicates_dropped} duplicates were counted; nothing was written"
        )
        self.counts = counts


def count_records(spark: SparkSession, plans: dict[str, FilePlan]) -> int:
    """Records in the raw files counted from their text, independently of the parser.

    One record per non-blank line (the jobs do not read multi-line records), minus the
    header line of each CSV file. Comparing it with the rows the job counts catches rows
    a reader drops silently.
    """
    headed = [path for path, plan in plans.items() if plan.has_header]
    lines = spark.read.text(sorted(plans)).select("value", F.input_file_name().alias("file"))
    row = lines.agg(
        F.count(F.when(F.trim(F.col("value")) != "", 1)).alias("records"),
        F.countDistinct(F.when(F.col("file").isin(headed), F.col("file"))).alias("headers"),
    ).first()
    assert row is not None
    return int(row["records"]) - int(row["headers"])


def row_time(schema: DatasetSchema) -> Column:
    """A row's time: its event time, or its raw file's time for a dataset without one."""
    return F.col(schema.event_time_column or FILE_TIME)


def rank_latest(annotated: DataFrame, schema: DatasetSchema) -> DataFrame:
    """Number the valid versions of each id, newest first (ties: the later file); the
    rejected rows are ranked in a group of their own and never compete with valid ones.

    Without an id column every record is the latest of its own: identical records of a
    file are numbered instead, and the number completes their ``etl_row_id``.
    """
    if schema.id_column is None:
        same = Window.partitionBy(ROW_KEY_COLUMN).orderBy(SOURCE_FILE)
        occurrence = F.row_number().over(same).cast("string")
        return annotated.withColumn(
            ROW_KEY_COLUMN, F.sha2(F.concat_ws("#", ROW_KEY_COLUMN, occurrence), 256)
        ).withColumn(_RANK, F.lit(1))
    order = Window.partitionBy(F.col(REASON).isNull(), schema.id_column).orderBy(
        row_time(schema).desc(), F.col(SOURCE_FILE).desc()
    )
    return annotated.withColumn(_RANK, F.row_number().over(order))


def quarantine_rows(ranked: DataFrame, schema: DatasetSchema, run_id: str) -> DataFrame:
    """Rejected rows with their raw values, line, reason, failing column and lineage."""
    return ranked.where(F.col(REASON).isNotNull()).select(
        *[F.col(RAW_PREFIX + name).alias(name) for name in schema.raw_columns],
        F.col(RAW_RECORD),
        F.col(REASON_COLUMN),
        F.col(REASON_DETAIL),
        SOURCE_FILE,
        F.lit(run_id).alias("etl_run_id"),
        F.current_timestamp().alias("quarantined_at"),
        F.col(REASON),
    )


def latest_rows(ranked: DataFrame, schema: DatasetSchema, run_id: str) -> DataFrame:
    """Valid rows, typed, one per id: the newest event."""
    latest = ranked.where(F.col(REASON).isNull() & (F.col(_RANK) == 1))
    return latest.select(
        *[name for name, _ in schema.processed_columns() if name != "etl_run_id"],
        F.lit(run_id).alias("etl_run_id"),
        F.date_format(row_time(schema), "yyyy-MM").alias(PARTITION_COLUMN),
    )


def raw_to_processed(
    spark: SparkSession,
    schema: DatasetSchema,
    *,
    input_paths: list[str],
    key_root: str,
    processed_path: str,
    quarantine_path: str,
    fmt: str = "auto",
    run_id: str = "local",
) -> ProcessedCounts:
    """Validate, quarantine and deduplicate one batch of raw files; return the counts.

    ``key_root`` is the zone the files were listed under (the job's input path): a record
    without an id is keyed by its file's path below it."""
    plans, skipped = plan_files(spark, schema, list_files(spark, input_paths), fmt)
    counts = ProcessedCounts(
        0,
        0,
        0,
        0,
        rejected_files={p.path: p.problem for p in plans.values() if p.rejected},
        extra_columns={p.path: list(p.extra) for p in plans.values() if p.extra},
        skipped_files=skipped,
    )
    if not plans:
        return counts
    ranked = rank_latest(annotate(spark, schema, plans, key_root), schema).persist()
    try:
        tally = (
            ranked.groupBy(REASON, REASON_COLUMN, (F.col(_RANK) == 1).alias("latest"))
            .count()
            .collect()
        )
        for row in tally:
            reason, column, rows = row[REASON], row[REASON_COLUMN], int(row["count"])
            if reason is None:
                if row["latest"]:
                    counts.valid_rows += rows
                else:
                    counts.duplicates_dropped += rows
                continue
            counts.quarantined_rows += rows
            by_reason = counts.quarantined_by_reason
            by_reason[reason] = by_reason.get(reason, 0) + rows
            key = f"{reason}:{column}" if column else reason
            counts.quarantined_by_column[key] = counts.quarantined_by_column.get(key, 0) + rows
        counts.quarantined_by_reason = dict(sorted(counts.quarantined_by_reason.items()))
        counts.quarantined_by_column = dict(sorted(counts.quarantined_by_column.items()))
        counts.input_rows = count_records(spark, plans)
        # Checked before anything is written: a batch that does not balance leaves no trace.
        if not counts.balanced:
            raise RowsLostError(counts)
        if counts.quarantined_rows:
            (
                quarantine_rows(ranked, schema, run_id)
                .write.mode("append")
                .partitionBy(REASON)
                .parquet(quarantine_path)
            )
        (
            latest_rows(ranked, schema, run_id)
            .write.mode("append")
            .partitionBy(PARTITION_COLUMN)
            .parquet(processed_path)
        )
    finally:
        ranked.unpersist()
    return counts
