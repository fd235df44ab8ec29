"""Validating a schema's ``facets``: the sensitive columns whose groups the evaluation
compares (pre- and post-training bias, ``training/explain.py``). Standard library only,
like the rest of ``config``."""

from __future__ import annotations

from collections.abc import Mapping

from config.schema_reader import Node, Problems
from config.schema_types import Facet, Feature, FeatureType, ProblemType

_FACET_KEYS = ("name", "values", "threshold", "description")


def parse_facets(
    node: Node,
    features: Mapping[str, Feature],
    problem_type: ProblemType | None,
    problems: Problems,
) -> tuple[Facet, ...]:
    """The facets, each a feature of a type a group can be drawn from; every problem is
    recorded. The metrics compare positive outcomes, so the target must be binary."""
    if node.value is None:
        return ()
    items = problems.attempt(node.items)
    if not items:
        return ()
    if problem_type is not None and problem_type is not ProblemType.BINARY_CLASSIFICATION:
        problems.add(
            node.path,
            f"bias metrics compare positive outcomes: a {problem_type.value} target has none",
            'remove "facets" (they need "problem_type": "binary_classification")',
        )
        return ()
    facets = [facet for facet in (_parse_facet(i, features, problems) for i in items) if facet]
    names = [f.name for f in facets]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.add(node.path, f"names facet {name!r} more than once", "keep one entry")
    return tuple(facets)


def _parse_facet(node: Node, features: Mapping[str, Feature], problems: Problems) -> Facet | None:
    if problems.attempt(node.mapping) is None:
        return None
    node.check_keys(_FACET_KEYS, problems)
    name = problems.attempt(lambda: node.child("name").identifier())
    if name is None:
        return None
    feature = features.get(name)
    if feature is None:
        problems.add(
            f"{node.path}.name",
            f"{name!r} is not a feature of the schema",
            f"name one of {', '.join(features)}",
        )
        return None
    values_node = node.child("values", required=False)
    threshold_node = node.child("threshold", required=False)
    threshold = problems.attempt(threshold_node.number)
    values: tuple[str, ...] = ()
    if values_node.value is not None:
        items = problems.attempt(values_node.items) or []
        values = tuple(v for v in (problems.attempt(i.text) for i in items) if v is not None)
    if feature.type is FeatureType.CATEGORICAL:
        unknown = [v for v in values if v not in feature.categories]
        if unknown:
            problems.add(
                values_node.path,
                f"{', '.join(map(repr, unknown))} is not a category of {name!r}",
                f"use some of {', '.join(feature.categories)}",
            )
        if values_node.value is not None and not values:
            problems.add(values_node.path, "lists no value", "list the sensitive categories")
        _no(threshold_node, "a categorical facet is split by its values", problems)
    elif feature.type is FeatureType.BOOLEAN:
        _no(values_node, "a boolean facet's group is its true rows", problems)
        _no(threshold_node, "a boolean facet's group is its true rows", problems)
    elif feature.type is FeatureType.NUMERIC:
        _no(values_node, "a numeric facet is split at its threshold", problems)
        if threshold_node.value is None:
            problems.add(
                threshold_node.path,
                "is required for a numeric facet",
                'add "threshold": the rows above it are the group compared with the rest',
            )
    else:
        problems.add(
            f"{node.path}.name",
            f"{name!r} is a {feature.type.value} feature: it has no groups to compare",
            "name a categorical, boolean or numeric feature",
        )
    description = node.child("description", required=False, default="").value
    return Facet(name=name, values=values, threshold=threshold, description=str(description))


def _no(node: Node, why: str, problems: Problems) -> None:
    if node.value is not None:
        key = node.path.rsplit(".", 1)[-1]
        problems.add(node.path, f"does not apply: {why}", f'remove "{key}"')
