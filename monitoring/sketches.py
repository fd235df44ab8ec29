"""Fixed-size, mergeable per-feature state: the monitor's memory does not grow with rows.

Numeric: counts on the baseline's bin edges (``len(edges) + 1`` slots: slot ``i`` holds
values in ``(edges[i-1], edges[i]]``, slot 0 values at or below the baseline minimum,
the last slot values above its maximum; one sort per chunk, then binary searches),
plus count, missing, non-numeric, integral share, min, max, sum and sum of squares.
Categorical and boolean: a count per domain value and a bounded table of unknown values
(beyond ``MAX_UNKNOWN_VALUES`` distinct ones they share one "other" slot). Every update
is a few numpy calls per chunk.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from config.schema import Feature, FeatureType
from features.columns import count_numbers
from features.values import InvalidValueError, boolean_text, is_missing, parse_category
from monitoring.baseline import FeatureBaseline

MAX_UNKNOWN_VALUES = 100
OTHER_UNKNOWN = "<other unknown values>"


@dataclass
class NumericState:
    """Histogram on the baseline's edges plus moments; ``merge`` adds another state."""

    edges: np.ndarray
    counts: np.ndarray = field(init=False)
    present: int = 0
    missing: int = 0
    invalid: int = 0
    # Fractional values in the first chunk that had any (enough to infer the type).
    fractional: int = 0
    negative: int = 0
    below_minimum: int = 0
    above_maximum: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0
    total_squares: float = 0.0

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)

    def update(self, values: Sequence[Any], feature: Feature) -> None:
        parsed, missing, invalid = count_numbers(values)
        self.missing += int(np.count_nonzero(missing))
        self.invalid += invalid
        # One sort per chunk, then every count is a binary search of the sorted values:
        # bins (the edges searched in the values), negatives, out-of-range values.
        ordered = np.sort(parsed[~np.isnan(parsed)])
        size = int(ordered.size)
        if size == 0:
            return
        self.present += size
        at_or_below = np.searchsorted(ordered, self.edges, side="right")
        self.counts += np.diff(at_or_below, prepend=0, append=size)
        if not self.fractional:
            self.fractional = int(np.count_nonzero(ordered != np.floor(ordered)))
        self.negative += int(np.searchsorted(ordered, 0.0, side="left"))
        if feature.minimum is not None:
            self.below_minimum += int(np.searchsorted(ordered, feature.minimum, side="left"))
        if feature.maximum is not None:
            self.above_maximum += size - int(
                np.searchsorted(ordered, feature.maximum, side="right")
            )
        self.minimum = min(self.minimum, float(ordered[0]))
        self.maximum = max(self.maximum, float(ordered[-1]))
        self.total += float(ordered.sum())
        # einsum, not dot: BLAS threads cost more than they save on a chunk this size.
        self.total_squares += float(np.einsum("i,i->", ordered, ordered))

    def merge(self, other: NumericState) -> None:
        self.counts += other.counts
        for name in (
            "present",
            "missing",
            "invalid",
            "fractional",
            "negative",
            "below_minimum",
            "above_maximum",
            "total",
            "total_squares",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def cdf(self) -> np.ndarray:
        """Share of current values at or below each edge."""
        if self.present == 0:
            return np.zeros(len(self.edges))
        return np.cumsum(self.counts)[:-1] / self.present

    @property
    def mean(self) -> float:
        return self.total / self.present if self.present else math.nan

    @property
    def std_dev(self) -> float:
        if not self.present:
            return math.nan
        return math.sqrt(max(self.total_squares / self.present - self.mean**2, 0.0))


@dataclass
class CategoricalState:
    """Counts per domain value and a bounded table of values outside the domain."""

    domain: tuple[str, ...]
    boolean: bool = False
    counts: np.ndarray = field(init=False)
    unknown: Counter[str] = field(default_factory=Counter)
    missing: int = 0

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.domain), dtype=np.int64)

    @property
    def present(self) -> int:
        return int(self.counts.sum()) + sum(self.unknown.values())

    @property
    def unknown_count(self) -> int:
        return sum(self.unknown.values())

    def _normal(self, value: object, index: dict[str, int]) -> str:
        """The domain value ``value`` stands for by the value rules, else its text."""
        try:
            return boolean_text(value) if self.boolean else parse_category(value, index)
        except InvalidValueError:
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value).strip()

    def update(self, values: Sequence[Any], feature: Feature) -> None:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        codes = pd.Categorical(array, categories=list(self.domain)).codes
        known = codes >= 0
        self.counts += np.bincount(codes[known], minlength=len(self.domain))
        if known.all():
            return
        index = {value: i for i, value in enumerate(self.domain)}
        rest = pd.Series(array[~known]).value_counts(dropna=False)
        for value, count in rest.items():
            if is_missing(value):
                self.missing += int(count)
                continue
            text = self._normal(value, index)
            if text in index:
                self.counts[index[text]] += int(count)
            else:
                self._add_unknown(text, int(count))

    def _add_unknown(self, value: str, count: int) -> None:
        if value in self.unknown or len(self.unknown) < MAX_UNKNOWN_VALUES:
            self.unknown[value] += count
        else:
            self.unknown[OTHER_UNKNOWN] += count

    def merge(self, other: CategoricalState) -> None:
        self.counts += other.counts
        self.missing += other.missing
        for value, count in other.unknown.items():
            self._add_unknown(value, count)

    def frequencies(self) -> dict[str, int]:
        return {
            **{value: int(n) for value, n in zip(self.domain, self.counts, strict=True)},
            **self.unknown,
        }


FeatureState = NumericState | CategoricalState


def new_state(feature: Feature, baseline: FeatureBaseline | None) -> FeatureState:
    """Empty state for ``feature``, its bins and domain taken from the baseline and schema."""
    if feature.type is FeatureType.NUMERIC:
        edges = baseline.numeric.edges if baseline and baseline.numeric else np.empty(0)
        return NumericState(edges=edges)
    if feature.type is FeatureType.BOOLEAN:
        return CategoricalState(domain=("true", "false"), boolean=True)
    seen = list(feature.categories)
    if baseline is not None:
        seen += [d for d in baseline.domains if d not in seen]
    return CategoricalState(domain=tuple(seen))
