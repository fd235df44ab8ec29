"""raw -> processed: enforce the dataset schema, quarantine what fails, drop stale duplicates.

Every raw row ends in exactly one place, so the counts always balance::

    input_rows = valid_rows + quarantined_rows + duplicates_dropped

A rejected row keeps its raw values (as strings) and gets a reason (the first check it
fails, in this order: malformed_record, missing_required, wrong_type, out_of_range,
unknown_category) and the column that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from config.schema import (
    FALSE_TOKENS,
    PARTITION_COLUMN,
    TRUE_TOKENS,
    DatasetSchema,
    Feature,
    FeatureType,
    ProblemType,
)

CORRUPT = "_corrupt_record"
REASON = "quarantine_reason"
REASON_COLUMN = "quarantine_column"
RAW_RECORD = "raw_record"
FORMATS = ("csv", "jsonl")


class RowsLostError(RuntimeError):
    """The raw files hold more (or fewer) records than the reader produced."""


@dataclass
class ProcessedCounts:
    """What raw -> processed did with its input; ``balanced`` is the no-loss invariant.

    ``input_rows`` is counted from the files' text; the other counts from what the
    parser, the checks and the dedup produced. They balance only if no row went missing.
    """

    input_rows: int
    valid_rows: int
    quarantined_rows: int
    duplicates_dropped: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    quarantined_by_column: dict[str, int] = field(default_factory=dict)

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
            "balanced": self.balanced,
        }


def read_raw(
    spark: SparkSession, schema: DatasetSchema, paths: list[str], fmt: str = "csv"
) -> DataFrame:
    """Every raw column as a string, plus the whole line for records that do not parse."""
    if fmt not in FORMATS:
        raise ValueError(f"raw format must be one of {FORMATS}, not {fmt!r}")
    struct = StructType(
        [StructField(c, StringType()) for c in schema.raw_columns]
        + [StructField(CORRUPT, StringType())]
    )
    reader = (
        spark.read.schema(struct)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("recursiveFileLookup", "true")
    )
    if fmt == "csv":
        # enforceSchema=false makes Spark check the header against the schema's names,
        # so a file with reordered or renamed columns fails loudly instead of misloading.
        frame = reader.option("header", "true").option("enforceSchema", "false").csv(paths)
    else:
        frame = reader.json(paths)
    return frame.withColumn("etl_source_file", F.input_file_name())


def count_records(spark: SparkSession, paths: list[str], fmt: str) -> int:
    """Records in the raw files counted from their text, independently of the parser.

    One record per non-blank line (the jobs do not read multi-line records), minus one
    header line per CSV file. Comparing it with what the parser yielded catches rows a
    reader drops silently.
    """
    lines = spark.read.option("recursiveFileLookup", "true").text(paths)
    with_file = lines.select("value", F.input_file_name().alias("file"))
    row = with_file.agg(
        F.count(F.when(F.trim(F.col("value")) != "", 1)).alias("records"),
        F.countDistinct("file").alias("files"),
    ).first()
    assert row is not None
    return int(row["records"]) - (int(row["files"]) if fmt == "csv" else 0)


def _blank(column: Column) -> Column:
    return column.isNull() | (F.trim(column) == "")


def _bool_token(column: Column) -> Column:
    token = F.lower(F.trim(column))
    return (
        F.when(token.isin(*TRUE_TOKENS), F.lit(True))
        .when(token.isin(*FALSE_TOKENS), F.lit(False))
        .otherwise(F.lit(None).cast("boolean"))
    )


def _number(column: Column) -> Column:
    value = F.trim(column).cast("double")
    # NaN and Infinity parse as doubles but are never valid measurements.
    return F.when(F.isnan(value) | (F.abs(value) == float("inf")), None).otherwise(value)


def _typed(schema: DatasetSchema) -> dict[str, Column]:
    """The typed value of every raw column (null where the raw text does not parse)."""
    typed: dict[str, Column] = {
        schema.id_column: F.trim(F.col(schema.id_column)),
        schema.event_time_column: F.to_timestamp(F.trim(F.col(schema.event_time_column))),
    }
    for feature in schema.features:
        raw = F.col(feature.name)
        if feature.type is FeatureType.NUMERIC:
            typed[feature.name] = _number(raw)
        elif feature.type is FeatureType.BOOLEAN:
            typed[feature.name] = _bool_token(raw)
        else:
            typed[feature.name] = F.when(~_blank(raw), F.trim(raw))
    target = F.col(schema.target.name)
    if schema.problem_type is ProblemType.BINARY_CLASSIFICATION:
        typed[schema.target.name] = _bool_token(target).cast("int")
    else:
        typed[schema.target.name] = _number(target)
    return typed


def _out_of_range(value: Column, minimum: float | None, maximum: float | None) -> Column:
    condition = F.lit(False)
    if minimum is not None:
        condition = condition | (value < F.lit(minimum))
    if maximum is not None:
        condition = condition | (value > F.lit(maximum))
    return condition


def _checks(schema: DatasetSchema, typed: dict[str, Column]) -> list[tuple[Column, str, str]]:
    """(failing condition, reason, column) in priority order; a row takes the first match."""
    features: dict[str, Feature] = {f.name: f for f in schema.features}
    required = [
        schema.id_column,
        schema.event_time_column,
        *(f.name for f in schema.features if not f.nullable),
        schema.target.name,
    ]
    checks: list[tuple[Column, str, str]] = [(F.col(CORRUPT).isNotNull(), "malformed_record", "")]
    checks += [(_blank(F.col(c)), "missing_required", c) for c in required]
    # A non-blank raw value whose typed value is null did not parse.
    typed_columns = [schema.event_time_column, schema.target.name] + [
        f.name for f in schema.features if f.type is not FeatureType.CATEGORICAL
    ]
    checks += [(~_blank(F.col(c)) & typed[c].isNull(), "wrong_type", c) for c in typed_columns]
    for feature in features.values():
        if feature.type is FeatureType.NUMERIC:
            condition = _out_of_range(typed[feature.name], feature.minimum, feature.maximum)
            checks.append((condition, "out_of_range", feature.name))
    if schema.problem_type is ProblemType.REGRESSION:
        condition = _out_of_range(
            typed[schema.target.name], schema.target.minimum, schema.target.maximum
        )
        checks.append((condition, "out_of_range", schema.target.name))
    for feature in features.values():
        if feature.type is FeatureType.CATEGORICAL:
            value = typed[feature.name]
            unknown = ~_blank(F.col(feature.name)) & ~value.isin(*feature.categories)
            checks.append((unknown, "unknown_category", feature.name))
    return checks


def annotate(frame: DataFrame, schema: DatasetSchema) -> DataFrame:
    """Add the typed columns (``t_<name>``), the reason and the failing column to each row."""
    typed = _typed(schema)
    reason: Column | None = None
    failed_column: Column | None = None
    for condition, why, name in _checks(schema, typed):
        # when() chains short-circuit per row: the first failing check wins.
        failed = F.coalesce(condition, F.lit(False))
        reason = F.when(failed, why) if reason is None else reason.when(failed, why)
        failed_column = (
            F.when(failed, name) if failed_column is None else failed_column.when(failed, name)
        )
    assert reason is not None and failed_column is not None  # the malformed check always exists
    return frame.select(
        "*",
        *[expr.alias(f"t_{name}") for name, expr in typed.items()],
        reason.alias(REASON),
        failed_column.alias(REASON_COLUMN),
    )


def quarantine_rows(annotated: DataFrame, schema: DatasetSchema, run_id: str) -> DataFrame:
    """Rejected rows with their raw values, reason, failing column and lineage."""
    return annotated.where(F.col(REASON).isNotNull()).select(
        *schema.raw_columns,
        F.col(CORRUPT).alias(RAW_RECORD),
        F.col(REASON_COLUMN),
        "etl_source_file",
        F.lit(run_id).alias("etl_run_id"),
        F.current_timestamp().alias("quarantined_at"),
        F.col(REASON),
    )


def valid_latest(annotated: DataFrame, schema: DatasetSchema, run_id: str) -> DataFrame:
    """Valid rows, typed, one per id: the latest event wins (ties: the later file)."""
    typed = annotated.where(F.col(REASON).isNull()).select(
        *[F.col(f"t_{name}").alias(name) for name in schema.raw_columns], "etl_source_file"
    )
    order = Window.partitionBy(schema.id_column).orderBy(
        F.col(schema.event_time_column).desc(), F.col("etl_source_file").desc()
    )
    latest = typed.withColumn("_rank", F.row_number().over(order)).where(F.col("_rank") == 1)
    return latest.select(
        *[name for name, _ in schema.processed_columns() if name != "etl_run_id"],
        F.lit(run_id).alias("etl_run_id"),
        F.date_format(F.col(schema.event_time_column), "yyyy-MM").alias(PARTITION_COLUMN),
    )


def raw_to_processed(
    spark: SparkSession,
    schema: DatasetSchema,
    *,
    input_paths: list[str],
    processed_path: str,
    quarantine_path: str,
    fmt: str = "csv",
    run_id: str = "local",
) -> ProcessedCounts:
    """Validate, quarantine and deduplicate one batch of raw files; return the counts."""
    annotated = annotate(read_raw(spark, schema, input_paths, fmt), schema).persist()
    try:
        by_reason = {
            (row[REASON], row[REASON_COLUMN]): row["count"]
            for row in annotated.groupBy(REASON, REASON_COLUMN).count().collect()
        }
        parsed_rows = sum(by_reason.values())
        quarantined_by_reason: dict[str, int] = {}
        quarantined_by_column: dict[str, int] = {}
        for (reason, column), count in by_reason.items():
            if reason is None:
                continue
            quarantined_by_reason[reason] = quarantined_by_reason.get(reason, 0) + count
            key = f"{reason}:{column}" if column else reason
            quarantined_by_column[key] = quarantined_by_column.get(key, 0) + count
        quarantined = sum(quarantined_by_reason.values())
        valid_before_dedup = parsed_rows - quarantined
        # Checked before anything is written: a batch the reader under-counts leaves no trace.
        input_rows = count_records(spark, input_paths, fmt)
        if input_rows != parsed_rows:
            raise RowsLostError(
                f"the files hold {input_rows} records but the reader yielded {parsed_rows}; "
                "nothing was written"
            )

        if quarantined:
            (
                quarantine_rows(annotated, schema, run_id)
                .write.mode("append")
                .partitionBy(REASON)
                .parquet(quarantine_path)
            )
        latest = valid_latest(annotated, schema, run_id).persist()
        try:
            valid_rows = latest.count()
            latest.write.mode("append").partitionBy(PARTITION_COLUMN).parquet(processed_path)
        finally:
            latest.unpersist()
    finally:
        annotated.unpersist()
    return ProcessedCounts(
        input_rows=input_rows,
        valid_rows=valid_rows,
        quarantined_rows=quarantined,
        duplicates_dropped=valid_before_dedup - valid_rows,
        quarantined_by_reason=dict(sorted(quarantined_by_reason.items())),
        quarantined_by_column=dict(sorted(quarantined_by_column.items())),
    )
