"""The validating pass of raw -> processed: every record of the raw files, split into
columns by its file's plan (``glue/raw_files.py``), typed and judged by the value rules
(``glue/verdicts.py``), one output row per record with its verdict.

A rejected row keeps its raw values (as text), its line, the reason, the failing column
and the rule's message. A record of a dataset without an id is keyed by its file's path
below the job's input path, its text and (``glue/validate.py`` numbers them) its
occurrence among the identical records of that file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
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
