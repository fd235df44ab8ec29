"""raw -> processed: enforce the dataset schema, quarantine what fails, drop stale duplicates.

Every raw record ends in exactly one place, and each place is counted on its own::

    input_rows = valid_rows + quarantined_rows + duplicates_dropped

``input_rows`` comes from the files' text (non-blank lines, less one header line per CSV
file), the others from the rows the job writes and drops. A batch whose counts do not
balance is refused before anything is written (``RowsLostError``).

Values are judged by the value rules of ``features/values.py`` (the functions inference
calls), run on Arrow batches in the Python workers (``glue/verdicts.py``); the lines are
split into columns by header name (``glue/raw_files.py``). A rejected row keeps its raw
values (as text) and its line, the reason (the first check it fails: malformed_record,
missing_required, wrong_type, out_of_range, unknown_category; or missing_columns for
every record of a file whose header lacks a required column), the column that failed
and the rule's message.

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

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from config.schema import (
    KIND_BOOLEAN,
    KIND_DOUBLE,
    KIND_INT,
    KIND_STRING,
    KIND_TIMESTAMP,
    PARTITION_COLUMN,
    ROW_KEY_COLUMN,
    DatasetSchema,
)
from glue.raw_files import (
    CSV,
    JSONL,
    MISSING_COLUMNS,
    FilePlan,
    file_format,
    header_names,
    parse_lines,
    plan_file,
    raw_text,
)
from glue.verdicts import judge

REASON = "quarantine_reason"
REASON_COLUMN = "quarantine_column"
REASON_DETAIL = "quarantine_detail"
RAW_RECORD = "raw_record"
SOURCE_FILE = "etl_source_file"
FILE_TIME = "_file_time"  # the raw file's modification time (S3 LastModified)
RAW_PREFIX = "_raw_"  # schema names start with a letter, so these never collide
_RANK = "_rank"

_SPARK_TYPES: dict[str, DataType] = {
    KIND_STRING: StringType(),
    KIND_DOUBLE: DoubleType(),
    KIND_BOOLEAN: BooleanType(),
    KIND_INT: IntegerType(),
    KIND_TIMESTAMP: TimestampType(),
}
_ARROW_TYPES = {
    KIND_STRING: pa.string(),
    KIND_DOUBLE: pa.float64(),
    KIND_BOOLEAN: pa.bool_(),
    KIND_INT: pa.int32(),
    # Spark reads Arrow timestamps as instants; the jobs' session time zone is UTC.
    KIND_TIMESTAMP: pa.timestamp("us", tz="UTC"),
}


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


def list_files(spark: SparkSession, paths: list[str]) -> list[str]:
    """The files under ``paths`` (folders searched recursively), named as Spark names them."""
    found: list[str] = spark.read.option("recursiveFileLookup", "true").text(paths).inputFiles()
    return sorted(found)


def first_line(spark: SparkSession, path: str) -> str | None:
    """The first line of a file (None if it is empty), read through Hadoop's file system,
    so S3 and local paths alike, without reading the rest of the file."""
    jvm: Any = spark.sparkContext._jvm  # the py4j gateway
    hadoop_path = jvm.org.apache.hadoop.fs.Path(jvm.java.net.URI(path))
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.open(hadoop_path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        line: str | None = reader.readLine()
        return line
    finally:
        stream.close()


def _json_keys(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(file, key) pairs seen in JSON lines records (mapInArrow)."""
    import json

    for batch in batches:
        pairs: set[tuple[str, str]] = set()
        for line, name in zip(
            batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
        ):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                pairs.update((name, key) for key in record)
        files, keys = zip(*sorted(pairs), strict=True) if pairs else ((), ())
        yield pa.RecordBatch.from_arrays(
            [pa.array(files, pa.string()), pa.array(keys, pa.string())], names=["file", "key"]
        )


def plan_files(
    spark: SparkSession, schema: DatasetSchema, files: list[str], forced: str = "auto"
) -> tuple[dict[str, FilePlan], list[str]]:
    """Each file's plan (CSV: from its header line; JSON lines: from the keys its records
    use), and the files skipped because their extension names no supported format."""
    plans: dict[str, FilePlan] = {}
    skipped: list[str] = []
    json_files: list[str] = []
    for path in files:
        fmt = file_format(path, forced)
        if fmt is None:
            skipped.append(path)
        elif fmt == CSV:
            line = first_line(spark, path)
            names = header_names(line) if line and line.strip() else []
            plans[path] = plan_file(schema, path, CSV, names)
        else:
            json_files.append(path)
    if json_files:
        lines = spark.read.text(json_files).select("value", F.input_file_name().alias("file"))
        keys: dict[str, list[str]] = {path: [] for path in json_files}
        pairs = lines.mapInArrow(_json_keys, "file string, key string").distinct().collect()
        for row in pairs:
            keys.setdefault(row["file"], []).append(row["key"])
        for path in json_files:
            plans[path] = plan_file(schema, path, JSONL, sorted(keys[path]))
    return plans, skipped


def _annotated_fields(schema: DatasetSchema) -> list[tuple[str, str]]:
    """(name, kind) of the columns the validating pass yields: the source file, typed
    values, the verdict, the raw text of rejected rows."""
    kinds = dict(schema.processed_columns())
    return [
        (SOURCE_FILE, KIND_STRING),
        (FILE_TIME, KIND_TIMESTAMP),
        *([(ROW_KEY_COLUMN, KIND_STRING)] if schema.id_column is None else []),
        *((name, kinds[name]) for name in schema.raw_columns),
        (REASON, KIND_STRING),
        (REASON_COLUMN, KIND_STRING),
        (REASON_DETAIL, KIND_STRING),
        *((RAW_PREFIX + name, KIND_STRING) for name in schema.raw_columns),
        (RAW_RECORD, KIND_STRING),
    ]


def annotated_schema(schema: DatasetSchema) -> StructType:
    """The validating pass's output as Spark declares it."""
    return StructType(
        [StructField(name, _SPARK_TYPES[kind]) for name, kind in _annotated_fields(schema)]
    )


class Validator:
    """The validating pass over raw lines (``mapInArrow``): lines of one file at a time are
    parsed by its plan and judged by the value rules; one output row per record."""

    def __init__(self, schema: DatasetSchema, plans: dict[str, FilePlan], key_root: str) -> None:
        self.schema = schema
        self.plans = plans
        self.key_root = key_root
        kinds = dict(schema.processed_columns())
        self.typed = [(name, _ARROW_TYPES[kinds[name]]) for name in schema.raw_columns]
        self.arrow_schema = pa.schema(
            [(name, _ARROW_TYPES[kind]) for name, kind in _annotated_fields(schema)]
        )

    def __call__(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        headers_seen: set[str] = set()  # per partition: the CSV files whose first line went by
        for batch in batches:
            lines = batch.column(0).to_pylist()
            files = batch.column(1).to_pylist()
            starts = batch.column(2).to_pylist()
            file_times = batch.column(3)
            if files and files.count(files[0]) == len(files):  # the usual: one file per batch
                runs = [(0, len(files))]
            else:
                runs, begin = [], 0
                for end in range(1, len(files) + 1):
                    if end == len(files) or files[end] != files[begin]:
                        runs.append((begin, end))
                        begin = end
            for begin, end in runs:
                plan = self.plans[files[begin]]
                run = lines[begin:end]
                if plan.has_header and starts[begin] == 0 and plan.path not in headers_seen:
                    headers_seen.add(plan.path)
                    run = run[1:]  # the file's first line is its header
                records = [line for line in run if line.strip()]
                if records:
                    yield self._judge(plan, records, file_times[begin].as_py())

    def _judge(self, plan: FilePlan, records: list[str], file_time: Any) -> pa.RecordBatch:
        schema = self.schema
        rows = len(records)
        if plan.rejected:
            reason = np.full(rows, MISSING_COLUMNS, dtype=object)
            column = np.full(rows, ",".join((*plan.missing, *plan.duplicated)), dtype=object)
            detail = np.full(rows, plan.problem, dtype=object)
            typed: list[pa.Array] = [pa.nulls(rows, kind) for _, kind in self.typed]
            raw: dict[str, list[Any]] = {name: [None] * rows for name in schema.raw_columns}
        else:
            parsed = parse_lines(schema, plan, records)
            verdict = judge(schema, parsed.columns, np.array(parsed.malformed, dtype=bool))
            reason, column, detail = verdict.reason, verdict.column, verdict.detail
            typed = []
            for name, kind in self.typed:
                values = verdict.columns[name]
                if kind == pa.float64():
                    typed.append(pa.array(values, kind, mask=np.isnan(values)))
                elif kind in (pa.bool_(), pa.int32()):
                    typed.append(pa.array(values, kind, mask=~verdict.present[name]))
                elif kind == pa.string():
                    typed.append(pa.array(values, kind))
                else:
                    typed.append(pa.array(values, kind, mask=np.isnat(values)))
            raw = parsed.columns
        rejected = np.flatnonzero(reason != None)  # noqa: E711  (element-wise on objects)
        kept_text: list[pa.Array] = []
        for name in schema.raw_columns:
            text = np.full(rows, None, dtype=object)
            source = raw[name]
            for row in rejected.tolist():
                text[row] = raw_text(source[row])
            kept_text.append(pa.array(text, pa.string()))
        line = np.full(rows, None, dtype=object)
        for row in rejected.tolist():
            line[row] = records[row]
        keys = []
        if schema.id_column is None:
            # The record's content key; rank_latest numbers identical records of a file.
            name = relative_path(plan.path, self.key_root)
            keys.append(pa.array([content_key(name, r) for r in records], pa.string()))
        return pa.RecordBatch.from_arrays(
            [
                pa.array([plan.path] * rows, pa.string()),
                pa.array([file_time] * rows, _ARROW_TYPES[KIND_TIMESTAMP]),
                *keys,
                *typed,
                pa.array(reason, pa.string()),
                pa.array(column, pa.string()),
                pa.array(detail, pa.string()),
                *kept_text,
                pa.array(line, pa.string()),
            ],
            schema=self.arrow_schema,
        )


def content_key(path: str, record: str) -> str:
    """A record's key before numbering: its file and its text (trailing blanks aside)."""
    return hashlib.sha256(f"{path}\n{record.rstrip()}".encode()).hexdigest()


def relative_path(path: str, root: str) -> str:
    """``path`` below the folder ``root``, or its name when ``root`` is the file itself.

    Either may carry a scheme or not (Spark names a local file ``file:/...``, the job's
    argument may be a bare path; S3 keys compare below the bucket). A path outside
    ``root`` is returned whole.
    """
    inner, base = urlparse(path).path, urlparse(root).path.rstrip("/")
    if inner == base:
        return PurePosixPath(inner).name
    return inner[len(base) + 1 :] if inner.startswith(base + "/") else path


def annotate(
    spark: SparkSession, schema: DatasetSchema, plans: dict[str, FilePlan], key_root: str
) -> DataFrame:
    """Every record of the planned files, typed, with its verdict (one validating pass);
    records without an id are keyed by their file's path below ``key_root``."""
    lines = spark.read.text(sorted(plans)).select(
        "value",
        F.input_file_name().alias(SOURCE_FILE),
        F.col("_metadata.file_block_start").alias("block_start"),
        F.col("_metadata.file_modification_time").alias(FILE_TIME),
    )
    return lines.mapInArrow(Validator(schema, plans, key_root), annotated_schema(schema))


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
