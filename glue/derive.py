"""processed -> curated: one row per row key (the latest event) with the derived features.

Derived features come from the schema's ``derived_features`` list, so a dataset adds or
changes them in its JSON file, and are computed by ``features.transform.derive``: the
same function the model's transformation calls at training and serving time. The
curated zone is rebuilt whole on each run: it is a small, model-ready snapshot, and
rebuilding keeps it correct when late data arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.functions import pandas_udf
from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

from config.schema import KIND_INT, PARTITION_COLUMN, DatasetSchema
from features.transform import derive

_DERIVED = "_derived"


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


def derived_struct(schema: DatasetSchema) -> Column:
    """All derived features as one struct, computed by ``features.transform.derive`` (the
    code the model's transformation runs) in the Python workers on Arrow batches.

    Only the derived features' inputs travel to Python and back comes one struct, so
    the generated JVM code does not grow with the number of features.
    """
    specs = schema.derived_features
    inputs = sorted({name for spec in specs for name in spec.inputs})
    result = StructType(
        [StructField(s.name, IntegerType() if s.kind == KIND_INT else DoubleType()) for s in specs]
    )

    def compute(frame: pd.DataFrame) -> pd.DataFrame:
        columns = {name: frame[name].to_numpy(dtype="float64", na_value=np.nan) for name in inputs}
        out = {}
        for spec in specs:
            # NaN is "undefined" to derive; Spark turns it into null on the way back.
            values = derive(spec, columns)
            out[spec.name] = pd.Series(values).astype("Int32") if spec.kind == KIND_INT else values
        return pd.DataFrame(out)

    udf = pandas_udf(compute, result)  # type: ignore[call-overload]
    column: Column = udf(F.struct(*[F.col(name).cast("double").alias(name) for name in inputs]))
    return column


def curate(processed: DataFrame, schema: DatasetSchema) -> DataFrame:
    """Latest row per row key with the derived features, in ``schema.curated_columns()``
    order. The key is the id column, or ``etl_row_id`` (a raw file loaded twice gives the
    same keys, so its rows are curated once); without an event time, the partition month
    (the raw file's month) stands in for it."""
    newest = F.col(schema.event_time_column or PARTITION_COLUMN).desc()
    order = Window.partitionBy(schema.row_key).orderBy(newest, F.col("etl_run_id").desc())
    latest = processed.withColumn("_rank", F.row_number().over(order)).where(F.col("_rank") == 1)
    derived = {d.name for d in schema.derived_features}
    if derived:
        latest = latest.withColumn(_DERIVED, derived_struct(schema))
    return latest.select(
        *[
            F.col(f"{_DERIVED}.{name}").alias(name) if name in derived else F.col(name)
            for name, _ in schema.curated_columns()
        ]
    )


def processed_to_curated(
    spark: SparkSession, schema: DatasetSchema, *, processed_path: str, curated_path: str
) -> CuratedCounts:
    """Rebuild the curated zone from the whole processed zone; return the counts."""
    processed = spark.read.parquet(processed_path)
    input_rows = processed.count()  # Parquet footers: no pass over the data
    curate(processed, schema).write.mode("overwrite").parquet(curated_path)
    # Counted from what was written (footers again), not from a cached copy of it.
    curated_rows = spark.read.parquet(curated_path).count()
    return CuratedCounts(
        input_rows=input_rows,
        superseded_rows=input_rows - curated_rows,
        curated_rows=curated_rows,
    )
