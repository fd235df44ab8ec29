"""The parts a dataset schema is made of (its features, target, derived features and
quality gate, with their types), the problems an invalid schema reports, and the column
names and kinds the ETL and the catalog share.

``config.schema`` re-exports every name here: import them from there. Standard library
only, like every ``config`` module: it ships to AWS Glue and into the SageMaker containers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a schema: where (the field's path), what, and how to fix it.

    Paths name list entries by their ``name`` where they have one
    (``schema.features[tenure_months].max``), by index otherwise.
    """

    path: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}; fix: {self.fix}"


class SchemaError(ValueError):
    """A dataset schema is invalid. It holds every problem found; its message is one line
    per problem (``<file>: <field path>: <what is wrong>; fix: <how>``)."""

    def __init__(self, problems: Problem | Sequence[Problem], *, source: Path | None = None):
        self.problems = (problems,) if isinstance(problems, Problem) else tuple(problems)
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per problem, each starting with the file when the error has one."""
        prefix = f"{display_path(self.source)}: " if self.source is not None else ""
        return [f"{prefix}{problem}" for problem in self.problems]


def display_path(path: Path) -> Path:
    """``path`` relative to the working directory when it is under it (shorter to read)."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


class FeatureType(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    # An ISO 8601 date or date-time (features/values.py); the model sees numbers derived
    # from it (features/transform.py), never the raw instant.
    TIMESTAMP = "timestamp"


class ProblemType(StrEnum):
    BINARY_CLASSIFICATION = "binary_classification"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        """Binary or multiclass: the curated target is a class index (0..k-1)."""
        return self is not ProblemType.REGRESSION


class DerivedOp(StrEnum):
    RATIO = "ratio"  # inputs[0] / inputs[1], null when the denominator is 0 or null
    LOG1P = "log1p"  # ln(1 + x) for x >= 0, tames right-skewed amounts
    BUCKET = "bucket"  # index of the first boundary greater than x (0..len(boundaries))


# Metrics evaluate.py reports per problem type, and whether higher is better: the quality
# gate of the training pipeline compares in that direction.
GATE_METRICS: dict[ProblemType, dict[str, bool]] = {
    ProblemType.BINARY_CLASSIFICATION: {
        "auc": True,
        "accuracy": True,
        "precision": True,
        "recall": True,
        "f1": True,
    },
    ProblemType.MULTICLASS_CLASSIFICATION: {
        "accuracy": True,
        "macro_f1": True,
        "weighted_f1": True,
        "log_loss": False,
    },
    ProblemType.REGRESSION: {"r2": True, "mse": False, "rmse": False, "mae": False},
}
METRIC_GROUPS = {
    ProblemType.BINARY_CLASSIFICATION: "binary_classification_metrics",
    ProblemType.MULTICLASS_CLASSIFICATION: "multiclass_classification_metrics",
    ProblemType.REGRESSION: "regression_metrics",
}


# Logical column kinds; the Glue catalog and Spark each map these to their own type names.
KIND_STRING = "string"
KIND_DOUBLE = "double"
KIND_BOOLEAN = "boolean"
KIND_INT = "int"
KIND_TIMESTAMP = "timestamp"

# Columns the ETL adds: the processed zone's partition and each row's lineage.
PARTITION_COLUMN = "event_month"
# The row key the ETL gives each raw record of a dataset without an ``id_column``: a hash
# of the raw file's path, the record's text and its occurrence among identical records of
# that file, so the same file loaded again yields the same keys (reruns are idempotent).
ROW_KEY_COLUMN = "etl_row_id"
LINEAGE_COLUMNS = (("etl_source_file", "string"), ("etl_run_id", "string"))

TRUE_TOKENS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_TOKENS = frozenset({"false", "0", "no", "n", "f"})


@dataclass(frozen=True)
class Feature:
    """One model input column as it arrives in the raw zone."""

    name: str
    type: FeatureType
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    description: str = ""
    synthetic: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return {
            FeatureType.NUMERIC: KIND_DOUBLE,
            FeatureType.CATEGORICAL: KIND_STRING,
            FeatureType.BOOLEAN: KIND_BOOLEAN,
            FeatureType.TIMESTAMP: KIND_TIMESTAMP,
        }[self.type]


@dataclass(frozen=True)
class Target:
    """The label column. After ETL a binary target is a 0/1 integer and a multiclass one
    the index (0..k-1) of its raw value in ``classes``."""

    name: str
    minimum: float | None = None
    maximum: float | None = None
    classes: tuple[str, ...] = ()  # multiclass only: the raw values, in index order
    synthetic: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from other numeric features in the processed -> curated job."""

    name: str
    op: DerivedOp
    inputs: tuple[str, ...]
    boundaries: tuple[float, ...] = ()

    @property
    def kind(self) -> str:
        return KIND_INT if self.op is DerivedOp.BUCKET else KIND_DOUBLE


@dataclass(frozen=True)
class QualityGate:
    """The bar a newly trained model must clear before it is registered."""

    metric: str
    threshold: float
    higher_is_better: bool
    group: str  # the evaluation.json section that holds the metric

    @property
    def json_path(self) -> str:
        """Where evaluation.json holds the candidate's value (a pipeline ``JsonGet`` path)."""
        return f"{self.group}.{self.metric}.value"


@dataclass(frozen=True)
class Facet:
    """A sensitive column the bias metrics compare groups of (SageMaker Clarify's facet).

    Each group ``d`` is compared with the rest of the rows (``a``): for a categorical
    facet the rows holding one of ``values`` (or, without ``values``, each category in
    turn against the others), for a boolean facet the true rows, for a numeric one the
    rows above ``threshold``. Rows whose facet value is missing belong to neither."""

    name: str
    values: tuple[str, ...] = ()
    threshold: float | None = None
    description: str = ""
