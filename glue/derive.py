"""processed -> curated: one row per id (the latest event) with the derived features.

Derived features come from the schema's ``derived_features`` list, so a dataset adds or
changes them in its JSON file. The curated zone is rebuilt whole on each run: it is a
small, model-ready snapshot, and rebuilding keeps it correct when late data arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from config.schema import DatasetSchema, DerivedFeature, DerivedOp


@dataclass
class CuratedCounts:
    """Rows read from processed, older versions of an id superseded, rows written."""

    input_rows: int
    superseded_rows: int
    curated_rows: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_rows": self.input_rows,
            "superseded_rows": self.superseded_rows,
            "curated_rows": self.curated_rows,
        }


def derived_column(feature: DerivedFeature) -> Column:
    """The Spark expression of one derived feature; null wherever it is undefined."""
    first = F.col(feature.inputs[0]).cast("double")
    if feature.op is DerivedOp.RATIO:
        denominator = F.col(feature.inputs[1]).cast("double")
        return F.when(denominator != 0, first / denominator).cast("double")
    if feature.op is DerivedOp.LOG1P:
        return F.when(first >= 0, F.log1p(first)).cast("double")
    # BUCKET: how many boundaries the value has reached (0..len(boundaries)).
    reached = sum(
        (F.when(first >= F.lit(bound), 1).otherwise(0) for bound in feature.boundaries),
        F.lit(0),
    )
    return F.when(first.isNotNull(), reached).cast("int")


def curate(processed: DataFrame, schema: DatasetSchema) -> DataFrame:
    """Latest row per id with the derived features, in ``schema.curated_columns()`` order."""
    order = Window.partitionBy(schema.id_column).orderBy(
        F.col(schema.event_time_column).desc(), F.col("etl_run_id").desc()
    )
    latest = processed.withColumn("_rank", F.row_number().over(order)).where(F.col("_rank") == 1)
    derived = {d.name: derived_column(d) for d in schema.derived_features}
    return latest.select(
        *[
            derived[name].alias(name) if name in derived else F.col(name)
            for name, _ in schema.curated_columns()
        ]
    )


def processed_to_curated(
    spark: SparkSession, schema: DatasetSchema, *, processed_path: str, curated_path: str
) -> CuratedCounts:
    """Rebuild the curated zone from the whole processed zone; return the counts."""
    processed = spark.read.parquet(processed_path).persist()
    try:
        input_rows = processed.count()
        curated = curate(processed, schema).persist()
        try:
            curated_rows = curated.count()
            curated.write.mode("overwrite").parquet(curated_path)
        finally:
            curated.unpersist()
    finally:
        processed.unpersist()
    return CuratedCounts(
        input_rows=input_rows,
        superseded_rows=input_rows - curated_rows,
        curated_rows=curated_rows,
    )
