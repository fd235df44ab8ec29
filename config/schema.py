"""The dataset schema: the one description of a dataset that every consumer reads.

ETL validation, the Glue Data Catalog tables, feature derivation, preprocessing,
inference input checks and monitoring all take their facts from a ``DatasetSchema``
loaded from a JSON file in ``config/datasets/``. Changing dataset is a change of
that file, never of code.

This module has no third-party dependencies on purpose: it is shipped to AWS Glue
(``--extra-py-files``) and into the SageMaker containers, which have only the
standard library in common.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
DEFAULT_DATASET = "churn"


class SchemaError(ValueError):
    """A dataset schema is invalid; the message starts with the offending field's path."""


class FeatureType(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"


class ProblemType(StrEnum):
    BINARY_CLASSIFICATION = "binary_classification"
    REGRESSION = "regression"


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
    ProblemType.REGRESSION: {"r2": True, "mse": False, "rmse": False, "mae": False},
}
METRIC_GROUPS = {
    ProblemType.BINARY_CLASSIFICATION: "binary_classification_metrics",
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
        }[self.type]


@dataclass(frozen=True)
class Target:
    """The label column. Binary targets are stored as 0/1 integers after ETL."""

    name: str
    minimum: float | None = None
    maximum: float | None = None
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
class DatasetSchema:
    """A validated dataset description. Build it with ``load_schema`` or ``from_dict``."""

    name: str
    problem_type: ProblemType
    id_column: str
    event_time_column: str
    target: Target
    features: tuple[Feature, ...]
    quality_gate: QualityGate
    derived_features: tuple[DerivedFeature, ...] = ()
    description: str = ""

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def raw_columns(self) -> list[str]:
        """Column order of a raw CSV file (header included)."""
        return [self.id_column, self.event_time_column, *self.feature_names, self.target.name]

    @property
    def target_kind(self) -> str:
        return KIND_INT if self.problem_type is ProblemType.BINARY_CLASSIFICATION else KIND_DOUBLE

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"dataset {self.name!r} has no feature {name!r}")

    def processed_columns(self) -> list[tuple[str, str]]:
        """Typed columns of the processed zone, in order (the partition column excluded)."""
        return [
            (self.id_column, KIND_STRING),
            (self.event_time_column, KIND_TIMESTAMP),
            *[(f.name, f.kind) for f in self.features],
            (self.target.name, self.target_kind),
            *LINEAGE_COLUMNS,
        ]

    def curated_columns(self) -> list[tuple[str, str]]:
        """Typed columns of the curated, model-ready zone, in order."""
        return [
            (self.id_column, KIND_STRING),
            (self.event_time_column, KIND_TIMESTAMP),
            *[(f.name, f.kind) for f in self.features],
            *[(d.name, d.kind) for d in self.derived_features],
            (self.target.name, self.target_kind),
        ]

    def model_feature_names(self) -> list[str]:
        """Inputs of the model: raw features followed by derived ones."""
        return [*self.feature_names, *(d.name for d in self.derived_features)]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetSchema:
        return _parse_schema(_Node(data, "schema"))

    @classmethod
    def from_json(cls, text: str) -> DatasetSchema:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"schema: not valid JSON ({exc})") from exc
        return cls.from_dict(data)


def load_schema(name_or_path: str | Path = DEFAULT_DATASET) -> DatasetSchema:
    """Load a schema by dataset name (``config/datasets/<name>.json``) or by file path."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = DATASETS_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise SchemaError(f"schema: no dataset file at {path}")
    return DatasetSchema.from_json(path.read_text(encoding="utf-8"))


class _Node:
    """A JSON value plus its path, so every error names the field it is about."""

    def __init__(self, value: Any, path: str) -> None:
        self.value = value
        self.path = path

    def fail(self, message: str) -> SchemaError:
        return SchemaError(f"{self.path}: {message}")

    def mapping(self) -> Mapping[str, Any]:
        if not isinstance(self.value, Mapping):
            raise self.fail("must be an object")
        return self.value

    def child(self, key: str, *, required: bool = True, default: Any = None) -> _Node:
        data = self.mapping()
        if key not in data:
            if required:
                raise SchemaError(f"{self.path}.{key}: is required")
            return _Node(default, f"{self.path}.{key}")
        return _Node(data[key], f"{self.path}.{key}")

    def items(self) -> list[_Node]:
        if not isinstance(self.value, list):
            raise self.fail("must be a list")
        return [_Node(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.fail("must be a non-empty string")
        return self.value

    def identifier(self) -> str:
        value = self.text()
        # Column names become Parquet, Glue catalog and CSV header names: keep them plain.
        if not value.replace("_", "").isalnum() or not value[0].isalpha() or value != value.lower():
            raise self.fail(f"{value!r} must be lower_snake_case (letters, digits, _)")
        return value

    def number(self) -> float | None:
        if self.value is None:
            return None
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self.fail("must be a number")
        if not math.isfinite(self.value):
            raise self.fail("must be finite")
        return float(self.value)

    def flag(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail("must be true or false")
        return self.value

    def enum(self, enum_type: type[Enum]) -> Any:
        allowed = [member.value for member in enum_type]
        if self.value not in allowed:
            raise self.fail(f"{self.value!r} is not one of {allowed}")
        return enum_type(self.value)


def _parse_range(node: _Node) -> tuple[float | None, float | None]:
    minimum = node.child("min", required=False).number()
    maximum = node.child("max", required=False).number()
    if minimum is not None and maximum is not None and minimum > maximum:
        raise SchemaError(f"{node.path}.min: {minimum} is greater than max {maximum}")
    return minimum, maximum


def _parse_feature(node: _Node) -> Feature:
    name = node.child("name").identifier()
    ftype = node.child("type").enum(FeatureType)
    minimum, maximum = _parse_range(node)
    categories: tuple[str, ...] = ()
    cats_node = node.child("categories", required=False)
    if ftype is FeatureType.CATEGORICAL:
        if cats_node.value is None:
            raise SchemaError(f"{cats_node.path}: is required for a categorical feature")
        categories = tuple(c.text() for c in cats_node.items())
        if not categories:
            raise cats_node.fail("must name at least one category")
        if len(set(categories)) != len(categories):
            raise cats_node.fail("has duplicate categories")
    elif cats_node.value is not None:
        raise cats_node.fail(f"only categorical features have categories, not {ftype.value}")
    if ftype is not FeatureType.NUMERIC and (minimum is not None or maximum is not None):
        raise node.fail(f"min/max apply to numeric features only, not {ftype.value}")
    synthetic = node.child("synthetic", required=False, default={})
    return Feature(
        name=name,
        type=ftype,
        nullable=node.child("nullable", required=False, default=False).flag(),
        minimum=minimum,
        maximum=maximum,
        categories=categories,
        description=str(node.child("description", required=False, default="").value),
        synthetic=synthetic.mapping(),
    )


def _parse_derived(node: _Node, features: Mapping[str, Feature]) -> DerivedFeature:
    name = node.child("name").identifier()
    op = node.child("op").enum(DerivedOp)
    inputs_node = node.child("inputs")
    inputs = tuple(i.text() for i in inputs_node.items())
    expected = 2 if op is DerivedOp.RATIO else 1
    if len(inputs) != expected:
        raise inputs_node.fail(f"{op.value} takes {expected} input(s), got {len(inputs)}")
    for position, input_name in enumerate(inputs):
        feature = features.get(input_name)
        if feature is None:
            raise SchemaError(f"{inputs_node.path}[{position}]: unknown feature {input_name!r}")
        if feature.type is not FeatureType.NUMERIC:
            raise SchemaError(f"{inputs_node.path}[{position}]: {input_name!r} is not numeric")
    boundaries: tuple[float, ...] = ()
    bounds_node = node.child("boundaries", required=False)
    if op is DerivedOp.BUCKET:
        boundaries = tuple(b.number() or 0.0 for b in bounds_node.items())
        if not boundaries or any(a >= b for a, b in itertools.pairwise(boundaries)):
            raise bounds_node.fail("must be a non-empty, strictly increasing list")
    elif bounds_node.value is not None:
        raise bounds_node.fail("only bucket features have boundaries")
    return DerivedFeature(name=name, op=op, inputs=inputs, boundaries=boundaries)


def _parse_gate(node: _Node, problem_type: ProblemType) -> QualityGate:
    metric = node.child("metric").text()
    directions = GATE_METRICS[problem_type]
    if metric not in directions:
        raise node.child("metric").fail(
            f"{metric!r} is not a {problem_type.value} metric; expected one of {sorted(directions)}"
        )
    threshold = node.child("threshold").number()
    if threshold is None:
        raise node.child("threshold").fail("must be a number")
    return QualityGate(
        metric=metric,
        threshold=threshold,
        higher_is_better=directions[metric],
        group=METRIC_GROUPS[problem_type],
    )


def _parse_schema(root: _Node) -> DatasetSchema:
    problem_type = root.child("problem_type").enum(ProblemType)
    target_node = root.child("target")
    target_min, target_max = _parse_range(target_node)
    if problem_type is ProblemType.BINARY_CLASSIFICATION and (
        target_min is not None or target_max is not None
    ):
        raise target_node.fail("a binary target takes no min/max (its values are 0/1)")
    target = Target(
        name=target_node.child("name").identifier(),
        minimum=target_min,
        maximum=target_max,
        synthetic=target_node.child("synthetic", required=False, default={}).mapping(),
    )
    features = tuple(_parse_feature(n) for n in root.child("features").items())
    if not features:
        raise SchemaError("schema.features: must list at least one feature")
    by_name = {f.name: f for f in features}
    derived = tuple(
        _parse_derived(n, by_name)
        for n in root.child("derived_features", required=False, default=[]).items()
    )
    schema = DatasetSchema(
        quality_gate=_parse_gate(root.child("quality_gate"), problem_type),
        name=root.child("name").identifier(),
        problem_type=problem_type,
        id_column=root.child("id_column").identifier(),
        event_time_column=root.child("event_time_column").identifier(),
        target=target,
        features=features,
        derived_features=derived,
        description=str(root.child("description", required=False, default="").value),
    )
    reserved = {PARTITION_COLUMN, *(name for name, _ in LINEAGE_COLUMNS)}
    seen: set[str] = set()
    for column, _kind in schema.curated_columns():
        if column in reserved:
            raise SchemaError(f"schema: column name {column!r} is reserved for the ETL")
        if column in seen:
            raise SchemaError(f"schema: column name {column!r} is used twice")
        seen.add(column)
    return schema
