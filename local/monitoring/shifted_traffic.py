"""Traffic with a known shift, and its ground truth in Model Monitor's format.

The shifted world moves three features (one numeric, one categorical, one boolean that
drive the target; for churn: ``age``, ``contract``, ``paperless_billing``) and changes
the concept too: the target's effects of those features are reversed. So the drift is
visible to the monitor, and the model trained before it is measurably worse on the new
rows than one retrained with their labels. Everything is seeded.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from config.schema import DatasetSchema, FeatureType
from local.lake.synthetic import feature_records, generate_clean, raw_records
from local.monitoring.capture_traffic import ground_truth_line

# How far each kind of feature moves (see generate_clean's ``shift``).
SHIFT_BY_TYPE = {FeatureType.NUMERIC: 0.3, FeatureType.CATEGORICAL: 0.4, FeatureType.BOOLEAN: 0.3}


def default_shift(schema: DatasetSchema) -> dict[str, float]:
    """One feature per type that drives the target: numeric, the last one no other feature
    is derived from (a derived one would drift along); categorical and boolean, the first."""
    effects = schema.target.synthetic.get("effects", {})
    derived_from = {name for f in schema.features for name in f.synthetic.get("of", [])}
    candidates = [f for f in schema.features if f.name in effects]
    numeric = [
        f for f in candidates if f.type is FeatureType.NUMERIC and f.name not in derived_from
    ]
    chosen = numeric[-1:]
    for kind in (FeatureType.CATEGORICAL, FeatureType.BOOLEAN):
        chosen += [f for f in candidates if f.type is kind][:1]
    if not chosen:
        raise ValueError(f"{schema.name}: no feature with a synthetic target effect to shift")
    return {f.name: SHIFT_BY_TYPE[f.type] for f in chosen}


def shifted_concept(schema: DatasetSchema, shift: Mapping[str, float]) -> DatasetSchema:
    """``schema`` whose synthetic target reverses the effects of the shifted features."""
    effects: dict[str, Any] = dict(schema.target.synthetic.get("effects", {}))
    for name in shift:
        effect = effects.get(name)
        if isinstance(effect, Mapping):
            effects[name] = {category: -value for category, value in effect.items()}
        elif effect is not None:
            effects[name] = -float(effect)
    target = dataclasses.replace(
        schema.target, synthetic={**schema.target.synthetic, "effects": effects}
    )
    return dataclasses.replace(schema, target=target)


def shifted_frame(
    schema: DatasetSchema, rows: int, *, seed: int, shift: Mapping[str, float]
) -> pd.DataFrame:
    """``rows`` rows of the shifted world (features moved, concept changed)."""
    return generate_clean(shifted_concept(schema, shift), rows, seed=seed, shift=shift)


def feature_lines(schema: DatasetSchema, frame: pd.DataFrame) -> list[str]:
    """Each row's features as the one-row CSV body a client sends."""
    return [",".join(values) for values in feature_records(schema, frame)]


def labels_by_request(schema: DatasetSchema, frame: pd.DataFrame) -> dict[str, str]:
    """The target (raw text) of each row, keyed by the CSV body sent for it."""
    first = len(schema.record_columns)
    return {",".join(record[first:-1]): record[-1] for record in raw_records(schema, frame)}


def ground_truth_for_capture(
    capture_lines: Iterable[str | bytes], labels: Mapping[str, str]
) -> list[str]:
    """Ground-truth lines for the captured requests whose body has a known label, joined
    by the eventId the endpoint's capture gave them (what a labelling job would upload)."""
    lines = []
    for raw in capture_lines:
        record = json.loads(raw)
        payload = record["captureData"]["endpointInput"]
        data = payload["data"]
        if payload.get("encoding") == "BASE64":
            data = base64.b64decode(data).decode("utf-8", errors="replace")
        body = data.strip()
        label = labels.get(body)
        if label is not None:
            lines.append(ground_truth_line(record["eventMetadata"]["eventId"], label))
    return lines
