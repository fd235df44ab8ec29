"""Validating the parts of a schema (its target, features, derived features, quality
gate and column names): each parser records its problems and goes on, so that one pass
reports every problem. ``config.schema`` assembles the parts into a ``DatasetSchema``."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping

from config.schema_reader import Node, Problems
from config.schema_types import (
    GATE_METRICS,
    LINEAGE_COLUMNS,
    METRIC_GROUPS,
    PARTITION_COLUMN,
    ROW_KEY_COLUMN,
    DerivedFeature,
    DerivedOp,
    Feature,
    FeatureType,
    ProblemType,
    QualityGate,
    Target,
)

# Keys each object may hold: anything else is a typo that would otherwise be ignored.
ROOT_KEYS = (
    "name",
    "description",
    "problem_type",
    "quality_gate",
    "id_column",
    "event_time_column",
    "target",
    "features",
    "derived_features",
    "raw_headers",
    "facets",
)
_TARGET_KEYS = ("name", "description", "min", "max", "classes", "synthetic")
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
# Metrics whose value cannot leave a range, so a threshold outside it can never pass.
_METRIC_RANGES: dict[str, tuple[float | None, float | None]] = {
    "auc": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "macro_f1": (0.0, 1.0),
    "weighted_f1": (0.0, 1.0),
    "log_loss": (0.0, None),
    "r2": (None, 1.0),
    "mse": (0.0, None),
    "rmse": (0.0, None),
    "mae": (0.0, None),
}


def _parse_range(node: Node, problems: Problems) -> tuple[float | None, float | None]:
    minimum = problems.attempt(lambda: node.child("min", required=False).number())
    maximum = problems.attempt(lambda: node.child("max", required=False).number())
    if minimum is not None and maximum is not None and minimum > maximum:
        problems.add(
            f"{node.path}.min",
            f"{minimum:g} is greater than max {maximum:g}",
            "swap min and max, or correct the wrong one",
        )
    return minimum, maximum


def _parse_categories(node: Node, problems: Problems) -> tuple[str, ...]:
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


def parse_feature(node: Node, problems: Problems) -> Feature | None:
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


def parse_derived(
    node: Node, features: Mapping[str, Feature], declared: set[str], problems: Problems
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


def _parse_boundaries(node: Node, op: DerivedOp | None, problems: Problems) -> tuple[float, ...]:
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


def _required_number(node: Node) -> float:
    value = node.number()
    if value is None:
        raise node.fail("must be a number", "write a number, not null")
    return value


def parse_gate(
    node: Node, problem_type: ProblemType | None, problems: Problems
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


def parse_target(node: Node, problem_type: ProblemType | None, problems: Problems) -> Target | None:
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
    classes = _parse_classes(node, problem_type, problems)
    synthetic = problems.attempt(
        lambda: node.child("synthetic", required=False, default={}).mapping()
    )
    if name is None or synthetic is None or classes is None:
        return None
    return Target(name=name, minimum=minimum, maximum=maximum, classes=classes, synthetic=synthetic)


def _parse_classes(
    node: Node, problem_type: ProblemType | None, problems: Problems
) -> tuple[str, ...] | None:
    """A multiclass target's classes (at least 3, each once); None when they are invalid."""
    classes_node = node.child("classes", required=False)
    multiclass = problem_type is ProblemType.MULTICLASS_CLASSIFICATION
    if not multiclass:
        if problem_type is not None and classes_node.value is not None:
            problems.add(
                classes_node.path,
                f"only a multiclass target has classes, not a {problem_type.value} one",
                'remove "classes", or set "problem_type": "multiclass_classification"',
            )
        return ()
    if classes_node.value is None:
        problems.add(
            classes_node.path,
            "is required for a multiclass target",
            'list the raw target values in the order of their index, e.g. "classes": '
            '["setosa", "versicolor", "virginica"]',
        )
        return None
    before = len(problems.found)
    classes = _parse_categories(classes_node, problems)
    if len(problems.found) > before:
        return None
    # A class travels as a bare CSV field (the endpoint's answer, ground-truth data):
    # keep it free of what CSV would have to quote, and equal to its trimmed self.
    awkward = [c for c in classes if c != c.strip() or any(ch in c for ch in ',"\r\n')]
    if awkward:
        problems.add(
            classes_node.path,
            f"{', '.join(map(repr, awkward))} cannot be a bare CSV field",
            "remove commas, double quotes, line breaks and surrounding spaces",
        )
        return None
    if len(classes) < 3:
        problems.add(
            classes_node.path,
            f"lists {len(classes)} class(es); multiclass needs at least 3",
            'for two classes use "problem_type": "binary_classification"',
        )
        return None
    if node.child("min", required=False).value is not None or (
        node.child("max", required=False).value is not None
    ):
        problems.add(
            node.path,
            "a multiclass target takes no min/max (its values are classes)",
            'remove "min"/"max"',
        )
    return classes


def check_columns(columns: list[tuple[str, str]], problems: Problems) -> None:
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


def parse_raw_headers(
    node: Node, raw_columns: list[str], problems: Problems
) -> tuple[tuple[str, str], ...]:
    """``raw_headers``: for a raw column whose files name it otherwise, its header as the
    files write it (any case, spaces, punctuation). The ETL reads the column under that
    header; every later zone names it by the schema's name. Each column's header (its own
    name when unmapped) must be one no other column has."""
    if node.value is None:
        return ()
    mapping = problems.attempt(node.mapping)
    if mapping is None:
        return ()
    found: list[tuple[str, str]] = []
    for column, header in mapping.items():
        path = f"{node.path}.{column}"
        if column not in raw_columns:
            problems.add(
                path,
                f"{column!r} is not a raw column of the schema",
                f"use a column's schema name as the key: {', '.join(raw_columns)}",
            )
        elif not isinstance(header, str) or not header.strip():
            problems.add(path, "must be a non-empty string", "write the header as the files do")
        elif header != header.strip() or "\n" in header or "\r" in header:
            problems.add(
                path,
                f"{header!r} has blanks around it or a line break",
                f"write {header.strip()!r}: the ETL drops blanks around header names",
            )
        else:
            found.append((column, header))
    headers = dict(found)
    owner: dict[str, str] = {}
    for column in raw_columns:
        header = headers.get(column, column)
        if header in owner:
            problems.add(
                f"{node.path}.{column}" if column in headers else f"{node.path}.{owner[header]}",
                f"header {header!r} would name both {owner[header]!r} and {column!r}",
                "give each column a header of its own",
            )
        owner.setdefault(header, column)
    return tuple((c, headers[c]) for c in raw_columns if c in headers)
