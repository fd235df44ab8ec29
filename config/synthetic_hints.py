"""Checks of the optional ``synthetic`` hints in a dataset schema.

Only the local data generator (``local/lake/synthetic.py``, ``make run``) reads them, so
they are checked apart from the schema itself: a deployed job never refuses a schema over
a generator hint. ``validate-schema`` and ``local.run`` report these problems, so a run on
a new dataset does not fail half-way.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from config.schema import DatasetSchema, Feature, FeatureType, Problem

# The local generator's numeric distributions and the hints each one needs.
_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "normal": ("mean", "std"),
    "lognormal": ("mean", "std"),
    "exponential": ("mean",),
    "poisson": ("mean",),
    "uniform": (),
    "product": ("of",),
}


def synthetic_hint_problems(schema: DatasetSchema) -> list[Problem]:
    """Problems in the ``synthetic`` hints of a valid schema, in the schema's style."""
    problems: list[Problem] = []
    earlier: dict[str, Feature] = {}
    for feature in schema.features:
        _check_feature_hints(
            feature, f"schema.features[{feature.name}].synthetic", earlier, problems
        )
        earlier[feature.name] = feature
    _check_class_shares(schema, problems)
    path = "schema.target.synthetic.effects"
    effects = schema.target.synthetic.get("effects", {})
    if not isinstance(effects, Mapping):
        _add(problems, path, "must be an object", "write it as {...}")
        return problems
    for name, effect in effects.items():
        declared = earlier.get(name)
        if declared is None:
            close = difflib.get_close_matches(name, schema.feature_names, n=1)
            _add(
                problems,
                f"{path}.{name}",
                "names no declared feature",
                f'did you mean "{close[0]}"?' if close else "remove it or declare the feature",
            )
        elif declared.type is FeatureType.CATEGORICAL:
            unknown = (
                sorted(set(effect) - set(declared.categories))
                if isinstance(effect, Mapping)
                else None
            )
            if unknown is None or unknown:
                _add(
                    problems,
                    f"{path}.{name}",
                    f"must map {declared.name}'s categories to numbers"
                    + (f"; not among them: {', '.join(map(repr, unknown))}" if unknown else ""),
                    f"use keys among {', '.join(declared.categories)}",
                )
        elif isinstance(effect, bool) or not isinstance(effect, int | float):
            _add(
                problems,
                f"{path}.{name}",
                "must be a number",
                "write the effect per unit of the feature",
            )
    return problems


def _check_class_shares(schema: DatasetSchema, problems: list[Problem]) -> None:
    """``class_shares`` (multiclass only): one positive number per class, in class order."""
    shares = schema.target.synthetic.get("class_shares")
    if shares is None:
        return
    path = "schema.target.synthetic.class_shares"
    classes = schema.target.classes
    if not classes:
        _add(problems, path, "applies to a multiclass target only", 'remove "class_shares"')
    elif (
        not isinstance(shares, list)
        or len(shares) != len(classes)
        or any(isinstance(v, bool) or not isinstance(v, int | float) or v <= 0 for v in shares)
    ):
        _add(
            problems,
            path,
            f"must list {len(classes)} positive numbers, one per class",
            f"give the relative share of {', '.join(classes)}, in that order",
        )


def _check_feature_hints(
    feature: Feature, path: str, earlier: Mapping[str, Feature], problems: list[Problem]
) -> None:
    """``earlier``: the features declared before this one (the generator makes them first)."""
    hints = feature.synthetic
    if feature.type is FeatureType.CATEGORICAL and "weights" in hints:
        weights = hints["weights"]
        if not isinstance(weights, list) or len(weights) != len(feature.categories):
            _add(
                problems,
                f"{path}.weights",
                f"must list one weight per category ({len(feature.categories)})",
                f"give {len(feature.categories)} numbers, in the order of the categories",
            )
    if feature.type is not FeatureType.NUMERIC:
        return
    distribution = hints.get("distribution", "uniform")
    if distribution not in _DISTRIBUTIONS:
        _add(
            problems,
            f"{path}.distribution",
            f"{distribution!r} is not one of {sorted(_DISTRIBUTIONS)}",
            f"use one of {', '.join(sorted(_DISTRIBUTIONS))}",
        )
        return
    missing = [key for key in _DISTRIBUTIONS[distribution] if key not in hints]
    if missing:
        _add(
            problems,
            path,
            f"a {distribution} distribution needs {', '.join(missing)}",
            f"add {', '.join(repr(key) for key in missing)}",
        )
    elif distribution == "product":
        numeric_before = [n for n, f in earlier.items() if f.type is FeatureType.NUMERIC]
        factors = hints["of"]
        if (
            not isinstance(factors, list)
            or len(factors) != 2
            or not all(isinstance(f, str) and f in numeric_before for f in factors)
        ):
            _add(
                problems,
                f"{path}.of",
                "must name two numeric features declared before this one",
                f"use two of: {', '.join(numeric_before) or 'none is declared before it'}",
            )


def _add(problems: list[Problem], path: str, message: str, fix: str) -> None:
    problems.append(Problem(path, message, fix))
