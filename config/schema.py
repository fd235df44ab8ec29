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

import difflib
import functools
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, TypeVar

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
DEFAULT_DATASET = "churn"


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
    """A validated dataset description. Build it with ``load_schema`` or ``from_dict``.

    ``id_column`` and ``event_time_column`` are optional. Without an id, every raw record
    is a row of its own (nothing is de-duplicated) and the ETL keys it by
    ``ROW_KEY_COLUMN``; whatever needs a row's key asks ``row_key``. Without an event
    time, a row's partition month is its raw file's own time (S3 LastModified).
    """

    name: str
    problem_type: ProblemType
    id_column: str | None
    event_time_column: str | None
    target: Target
    features: tuple[Feature, ...]
    quality_gate: QualityGate
    derived_features: tuple[DerivedFeature, ...] = ()
    description: str = ""

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def row_key(self) -> str:
        """The column that identifies a row from the processed zone on: the id column, or
        the ETL's ``etl_row_id`` when the dataset has none."""
        return self.id_column or ROW_KEY_COLUMN

    @property
    def record_columns(self) -> list[str]:
        """The columns that say which record a raw row is and when: the id and the event
        time, those the dataset has."""
        return [c for c in (self.id_column, self.event_time_column) if c is not None]

    @property
    def raw_columns(self) -> list[str]:
        """The schema's raw columns (their order in a file is free: matched by header name)."""
        return [*self.record_columns, *self.feature_names, self.target.name]

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
            *self._key_columns(),
            *[(f.name, f.kind) for f in self.features],
            (self.target.name, self.target_kind),
            *LINEAGE_COLUMNS,
        ]

    def curated_columns(self) -> list[tuple[str, str]]:
        """Typed columns of the curated, model-ready zone, in order."""
        return [
            *self._key_columns(),
            *[(f.name, f.kind) for f in self.features],
            *[(d.name, d.kind) for d in self.derived_features],
            (self.target.name, self.target_kind),
        ]

    def _key_columns(self) -> list[tuple[str, str]]:
        """The row key, then the event time when the dataset has one."""
        columns = [(self.row_key, KIND_STRING)]
        if self.event_time_column is not None:
            columns.append((self.event_time_column, KIND_TIMESTAMP))
        return columns

    def model_feature_names(self) -> list[str]:
        """Inputs of the model: raw features followed by derived ones."""
        return [*self.feature_names, *(d.name for d in self.derived_features)]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetSchema:
        """Validate ``data``; a ``SchemaError`` lists every problem found, not only the first."""
        return _parse_schema(_Node(data, "schema"))

    @classmethod
    def from_json(cls, text: str) -> DatasetSchema:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(
                Problem(
                    f"line {exc.lineno} column {exc.colno}",
                    f"not valid JSON ({exc.msg})",
                    _json_fix(text, exc),
                )
            ) from None
        return cls.from_dict(data)


def schema_path(name_or_path: str | Path) -> Path:
    """The file of a dataset name (``config/datasets/<name>.json``) or of a ``.json`` path."""
    path = Path(name_or_path)
    return path if path.suffix == ".json" else DATASETS_DIR / f"{name_or_path}.json"


def display_path(path: Path) -> Path:
    """``path`` relative to the working directory when it is under it (shorter to read)."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def dataset_names() -> list[str]:
    """The datasets shipped in ``config/datasets/``."""
    return sorted(p.stem for p in DATASETS_DIR.glob("*.json"))


def load_schema(name_or_path: str | Path = DEFAULT_DATASET) -> DatasetSchema:
    """Load a schema by dataset name (``config/datasets/<name>.json``) or by file path.

    A ``SchemaError`` from here carries the file, so its lines read ``<file>: <field>: ...``.
    """
    path = schema_path(name_or_path)
    if not path.is_file():
        raise SchemaError(
            Problem(
                "schema",
                "no such dataset file",
                f"give a .json file's path or a dataset name: {', '.join(dataset_names())}",
            ),
            source=path,
        )
    try:
        return DatasetSchema.from_json(path.read_text(encoding="utf-8"))
    except SchemaError as error:
        raise SchemaError(list(error.problems), source=path) from None


def _json_fix(text: str, error: json.JSONDecodeError) -> str:
    """How to repair the JSON syntax error at ``error.pos``, for the mistakes people make."""
    rest = text[error.pos :].lstrip()
    before = text[: error.pos].rstrip()
    if rest.startswith(("//", "/*", "#")):
        return 'JSON has no comments: delete it (notes belong in a "description" field)'
    if rest.startswith("'"):
        return "JSON strings and keys take double quotes"
    if before.endswith(",") and rest[:1] in ("}", "]"):
        return "delete the trailing comma"
    if error.msg.startswith("Expecting ',' delimiter"):
        return "add the missing comma between the two entries"
    return "correct the JSON syntax at that point (a missing comma, bracket or quote)"


_T = TypeVar("_T")
_E = TypeVar("_E", bound=Enum)

# Keys each object may hold: anything else is a typo that would otherwise be ignored.
_ROOT_KEYS = (
    "name",
    "description",
    "problem_type",
    "quality_gate",
    "id_column",
    "event_time_column",
    "target",
    "features",
    "derived_features",
)
_TARGET_KEYS = ("name", "description", "min", "max", "synthetic")
_FEATURE_KEYS = (
    "name",
    "type",
    "description",
    "nullable",
    "min",
    "max",
    "categories",
    "synthetic",
)
_DERIVED_KEYS = ("name", "description", "op", "inputs", "boundaries")
_GATE_KEYS = ("metric", "threshold")
# What a required key holds, for the "add it" fix.
_REQUIRED_HINTS = {
    "name": "a lower_snake_case name",
    "problem_type": f"one of {', '.join(p.value for p in ProblemType)}",
    "quality_gate": '{"metric": ..., "threshold": ...}',
    "target": '{"name": <the label column>}',
    "features": "[...] the model's input columns",
    "type": f"one of {', '.join(t.value for t in FeatureType)}",
    "op": f"one of {', '.join(o.value for o in DerivedOp)}",
    "inputs": "[...] the numeric features it is computed from",
    "metric": "the evaluation metric the gate compares",
    "threshold": "the value a new model must reach",
}
# Metrics whose value cannot leave a range, so a threshold outside it can never pass.
_METRIC_RANGES: dict[str, tuple[float | None, float | None]] = {
    "auc": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "r2": (None, 1.0),
    "mse": (0.0, None),
    "rmse": (0.0, None),
    "mae": (0.0, None),
}


class _Problems:
    """Collects problems so one pass reports all of them; each field is parsed on its own."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, path: str, message: str, fix: str) -> None:
        self.found.append(Problem(path, message, fix))

    def attempt(self, parse: Callable[[], _T]) -> _T | None:
        """``parse()``, or None with its problems recorded."""
        try:
            return parse()
        except SchemaError as error:
            self.found.extend(error.problems)
            return None


class _Node:
    """A JSON value plus its path, so every problem names the field it is about."""

    def __init__(self, value: Any, path: str) -> None:
        self.value = value
        self.path = path

    def fail(self, message: str, fix: str) -> SchemaError:
        return SchemaError(Problem(self.path, message, fix))

    def mapping(self) -> Mapping[str, Any]:
        if not isinstance(self.value, Mapping):
            raise self.fail("must be an object", "write it as {...}")
        return self.value

    def child(self, key: str, *, required: bool = True, default: Any = None) -> _Node:
        data = self.mapping()
        if key not in data:
            if required:
                hint = _REQUIRED_HINTS.get(key, "")
                raise SchemaError(
                    Problem(f"{self.path}.{key}", "is required", f'add "{key}": {hint}'.strip())
                )
            return _Node(default, f"{self.path}.{key}")
        return _Node(data[key], f"{self.path}.{key}")

    def items(self) -> list[_Node]:
        """List items; an object with a usable name is addressed by it, others by index."""
        if not isinstance(self.value, list):
            raise self.fail("must be a list", "write it as [...]")
        nodes = []
        for index, value in enumerate(self.value):
            name = value.get("name") if isinstance(value, Mapping) else None
            label = name if isinstance(name, str) and name.strip() else str(index)
            nodes.append(_Node(value, f"{self.path}[{label}]"))
        return nodes

    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.fail("must be a non-empty string", 'write it in double quotes: "..."')
        return self.value

    def identifier(self) -> str:
        value = self.text()
        # Column names become Parquet, Glue catalog and CSV header names: keep them plain.
        if not value.replace("_", "").isalnum() or not value[0].isalpha() or value != value.lower():
            suggestion = re.sub(r"[^0-9a-z]+", "_", value.lower()).strip("_")
            if not suggestion[:1].isalpha():
                suggestion = f"c_{suggestion}".rstrip("_")
            raise self.fail(
                f"{value!r} must be lower_snake_case (letters, digits, _)",
                f"rename it to {suggestion!r}, and the raw files' header with it",
            )
        return value

    def number(self) -> float | None:
        if self.value is None:
            return None
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self.fail("must be a number", f"write a bare number, not {self.value!r}")
        if not math.isfinite(self.value):
            raise self.fail("must be finite", "write a finite number")
        return float(self.value)

    def flag(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail("must be true or false", f"write true or false, not {self.value!r}")
        return self.value

    def enum(self, enum_type: type[_E]) -> _E:
        allowed = [str(member.value) for member in enum_type]
        if self.value not in allowed:
            close = difflib.get_close_matches(str(self.value), allowed, n=1)
            raise self.fail(
                f"{self.value!r} is not one of {allowed}",
                f"use {close[0]!r}" if close else f"use one of {', '.join(allowed)}",
            )
        return enum_type(self.value)

    def check_keys(self, allowed: tuple[str, ...], problems: _Problems) -> None:
        """Record every key ``allowed`` does not name (a typo would be silently ignored)."""
        for key in self.mapping():
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            problems.add(
                f"{self.path}.{key}",
                "is not a known key",
                f'did you mean "{close[0]}"?'
                if close
                else f"remove it; the keys here are {', '.join(allowed)}",
            )


def _parse_range(node: _Node, problems: _Problems) -> tuple[float | None, float | None]:
    minimum = problems.attempt(lambda: node.child("min", required=False).number())
    maximum = problems.attempt(lambda: node.child("max", required=False).number())
    if minimum is not None and maximum is not None and minimum > maximum:
        problems.add(
            f"{node.path}.min",
            f"{minimum:g} is greater than max {maximum:g}",
            "swap min and max, or correct the wrong one",
        )
    return minimum, maximum


def _parse_categories(node: _Node, problems: _Problems) -> tuple[str, ...]:
    items = problems.attempt(node.items)
    if items is None:
        return ()
    if not items:
        problems.add(node.path, "must name at least one category", "list the values it takes")
        return ()
    values = [v for v in (problems.attempt(i.text) for i in items) if v is not None]
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        problems.add(
            node.path,
            f"lists {', '.join(map(repr, repeated))} more than once",
            "list each category once",
        )
    return tuple(dict.fromkeys(values))


def _parse_feature(node: _Node, problems: _Problems) -> Feature | None:
    if problems.attempt(node.mapping) is None:
        return None
    node.check_keys(_FEATURE_KEYS, problems)
    name = problems.attempt(lambda: node.child("name").identifier())
    ftype = problems.attempt(lambda: node.child("type").enum(FeatureType))
    minimum, maximum = _parse_range(node, problems)
    categories: tuple[str, ...] = ()
    categories_ok = True
    cats_node = node.child("categories", required=False)
    if ftype is FeatureType.CATEGORICAL:
        if cats_node.value is None:
            problems.add(
                cats_node.path,
                "is required for a categorical feature",
                'list its values, e.g. "categories": ["a", "b"]',
            )
            categories_ok = False
        else:
            before = len(problems.found)
            categories = _parse_categories(cats_node, problems)
            # Invalid categories make the feature invalid, as any other invalid field does
            # (its derived features then do not report it again).
            categories_ok = len(problems.found) == before
    elif ftype is not None and cats_node.value is not None:
        problems.add(
            cats_node.path,
            f"only categorical features have categories, not {ftype.value}",
            'remove "categories", or set "type": "categorical"',
        )
    if ftype not in (None, FeatureType.NUMERIC) and (minimum is not None or maximum is not None):
        problems.add(
            node.path,
            f"min/max apply to numeric features only, not {ftype}",
            'remove "min" and "max", or set "type": "numeric"',
        )
    nullable = problems.attempt(
        lambda: node.child("nullable", required=False, default=False).flag()
    )
    synthetic = problems.attempt(
        lambda: node.child("synthetic", required=False, default={}).mapping()
    )
    if name is None or ftype is None or nullable is None or synthetic is None or not categories_ok:
        return None
    return Feature(
        name=name,
        type=ftype,
        nullable=nullable,
        minimum=minimum,
        maximum=maximum,
        categories=categories,
        description=str(node.child("description", required=False, default="").value),
        synthetic=synthetic,
    )


def _parse_derived(
    node: _Node, features: Mapping[str, Feature], declared: set[str], problems: _Problems
) -> DerivedFeature | None:
    """A derived feature; ``declared`` names every feature, including ones that failed."""
    if problems.attempt(node.mapping) is None:
        return None
    node.check_keys(_DERIVED_KEYS, problems)
    name = problems.attempt(lambda: node.child("name").identifier())
    op = problems.attempt(lambda: node.child("op").enum(DerivedOp))
    inputs_node = problems.attempt(lambda: node.child("inputs"))
    items = problems.attempt(inputs_node.items) if inputs_node is not None else None
    inputs = tuple(v for v in (problems.attempt(i.text) for i in items or []) if v is not None)
    numeric = sorted(n for n, f in features.items() if f.type is FeatureType.NUMERIC)
    if inputs_node is not None and items is not None:
        expected = 2 if op is DerivedOp.RATIO else 1
        if op is not None and len(items) != expected:
            problems.add(
                inputs_node.path,
                f"{op.value} takes {expected} input(s), got {len(items)}",
                f"list exactly {expected} numeric feature name(s)",
            )
        for input_name in inputs:
            feature = features.get(input_name)
            if feature is None and input_name not in declared:
                problems.add(
                    inputs_node.path,
                    f"unknown feature {input_name!r}",
                    f'declare {input_name!r} under "features", or use a numeric feature: '
                    + (", ".join(numeric) or "none is declared"),
                )
            elif feature is not None and feature.type is not FeatureType.NUMERIC:
                problems.add(
                    inputs_node.path,
                    f"{input_name!r} is {feature.type.value}, not numeric",
                    f"use a numeric feature: {', '.join(numeric) or 'none is declared'}",
                )
    boundaries = _parse_boundaries(node, op, problems)
    if name is None or op is None or inputs_node is None or items is None:
        return None
    return DerivedFeature(name=name, op=op, inputs=inputs, boundaries=boundaries)


def _parse_boundaries(node: _Node, op: DerivedOp | None, problems: _Problems) -> tuple[float, ...]:
    bounds_node = node.child("boundaries", required=False)
    if op is not DerivedOp.BUCKET:
        if op is not None and bounds_node.value is not None:
            problems.add(
                bounds_node.path,
                "only bucket features have boundaries",
                'remove "boundaries", or set "op": "bucket"',
            )
        return ()
    if bounds_node.value is None:
        problems.add(
            bounds_node.path,
            "is required for a bucket feature",
            'list the cut points in increasing order, e.g. "boundaries": [10, 100, 1000]',
        )
        return ()
    items = problems.attempt(bounds_node.items)
    if items is None:
        return ()
    values = [problems.attempt(functools.partial(_required_number, item)) for item in items]
    boundaries = tuple(v for v in values if v is not None)
    if len(boundaries) != len(values):
        return ()
    if not boundaries or any(a >= b for a, b in itertools.pairwise(boundaries)):
        ordered = ", ".join(f"{b:g}" for b in sorted(set(boundaries)))
        problems.add(
            bounds_node.path,
            "must be a non-empty, strictly increasing list",
            f"use [{ordered}]" if ordered else "list at least one cut point",
        )
    return boundaries


def _required_number(node: _Node) -> float:
    value = node.number()
    if value is None:
        raise node.fail("must be a number", "write a number, not null")
    return value


def _parse_gate(
    node: _Node, problem_type: ProblemType | None, problems: _Problems
) -> QualityGate | None:
    if problems.attempt(node.mapping) is None:
        return None
    node.check_keys(_GATE_KEYS, problems)
    metric_node = problems.attempt(lambda: node.child("metric"))
    metric = problems.attempt(metric_node.text) if metric_node is not None else None
    threshold_node = problems.attempt(lambda: node.child("threshold"))
    threshold = (
        problems.attempt(lambda: _required_number(threshold_node))
        if threshold_node is not None
        else None
    )
    if problem_type is None or metric_node is None or metric is None:
        return None
    directions = GATE_METRICS[problem_type]
    if metric not in directions:
        problems.add(
            metric_node.path,
            f"{metric!r} is not a {problem_type.value} metric",
            f"use one of {', '.join(sorted(directions))}",
        )
        return None
    low, high = _METRIC_RANGES.get(metric, (None, None))
    if threshold is not None and (
        (low is not None and threshold < low) or (high is not None and threshold > high)
    ):
        span = (
            f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
        )
        problems.add(
            f"{node.path}.threshold",
            f"{threshold:g} is outside {metric}'s range {span}: no model could pass",
            f"use a value within {span}",
        )
    if threshold is None:
        return None
    return QualityGate(
        metric=metric,
        threshold=threshold,
        higher_is_better=directions[metric],
        group=METRIC_GROUPS[problem_type],
    )


def _bound(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else f"{value:g}"


def _parse_target(
    node: _Node, problem_type: ProblemType | None, problems: _Problems
) -> Target | None:
    if problems.attempt(node.mapping) is None:
        return None
    node.check_keys(_TARGET_KEYS, problems)
    name = problems.attempt(lambda: node.child("name").identifier())
    minimum, maximum = _parse_range(node, problems)
    if problem_type is ProblemType.BINARY_CLASSIFICATION and (
        minimum is not None or maximum is not None
    ):
        problems.add(
            node.path, "a binary target takes no min/max (its values are 0/1)", 'remove "min"/"max"'
        )
    synthetic = problems.attempt(
        lambda: node.child("synthetic", required=False, default={}).mapping()
    )
    if name is None or synthetic is None:
        return None
    return Target(name=name, minimum=minimum, maximum=maximum, synthetic=synthetic)


def _check_columns(columns: list[tuple[str, str]], problems: _Problems) -> None:
    """Every column (path, name) has a name of its own that the ETL does not reserve."""
    reserved = {PARTITION_COLUMN, ROW_KEY_COLUMN, *(name for name, _ in LINEAGE_COLUMNS)}
    first: dict[str, str] = {}
    for path, column in columns:
        if column in reserved:
            problems.add(path, f"column name {column!r} is reserved for the ETL", "rename it")
        elif column in first:
            where = "" if first[column] == path else f" (also at {first[column]})"
            problems.add(
                path, f"column name {column!r} is used twice{where}", "rename or remove one of them"
            )
        else:
            first[column] = path


def _parse_schema(root: _Node) -> DatasetSchema:
    problems = _Problems()
    if problems.attempt(root.mapping) is None:
        raise SchemaError(problems.found)
    root.check_keys(_ROOT_KEYS, problems)

    def identifier(key: str) -> str | None:
        return problems.attempt(lambda: root.child(key).identifier())

    def optional_identifier(key: str) -> str | None:
        node = root.child(key, required=False)
        return None if node.value is None else problems.attempt(node.identifier)

    name = identifier("name")
    id_column = optional_identifier("id_column")
    event_time_column = optional_identifier("event_time_column")
    problem_type = problems.attempt(lambda: root.child("problem_type").enum(ProblemType))
    target_node = problems.attempt(lambda: root.child("target"))
    target = _parse_target(target_node, problem_type, problems) if target_node else None
    features_node = problems.attempt(lambda: root.child("features"))
    feature_nodes = problems.attempt(features_node.items) if features_node else None
    if features_node is not None and feature_nodes == []:
        problems.add(features_node.path, "must list at least one feature", "declare the inputs")
    parsed = [(n, _parse_feature(n, problems)) for n in feature_nodes or []]
    features = tuple(f for _, f in parsed if f is not None)
    declared = {
        str(n.value["name"])
        for n in feature_nodes or []
        if isinstance(n.value, Mapping) and isinstance(n.value.get("name"), str)
    }
    by_name = {f.name: f for f in features}
    derived_node = root.child("derived_features", required=False, default=[])
    derived_nodes = problems.attempt(derived_node.items) or []
    derived = [(n, _parse_derived(n, by_name, declared, problems)) for n in derived_nodes]
    gate_node = problems.attempt(lambda: root.child("quality_gate"))
    quality_gate = _parse_gate(gate_node, problem_type, problems) if gate_node else None

    columns = [
        (f"{root.path}.id_column", id_column),
        (f"{root.path}.event_time_column", event_time_column),
        *((n.path, f.name if f else None) for n, f in parsed),
        *((n.path, d.name if d else None) for n, d in derived),
        (f"{root.path}.target.name", target.name if target else None),
    ]
    _check_columns([(path, c) for path, c in columns if c is not None], problems)
    if (
        problems.found
        or name is None
        or problem_type is None
        or target is None
        or quality_gate is None
        or any(d is None for _, d in derived)
    ):
        raise SchemaError(problems.found)
    return DatasetSchema(
        name=name,
        problem_type=problem_type,
        id_column=id_column,
        event_time_column=event_time_column,
        target=target,
        features=features,
        quality_gate=quality_gate,
        derived_features=tuple(d for _, d in derived if d is not None),
        description=str(root.child("description", required=False, default="").value),
    )
