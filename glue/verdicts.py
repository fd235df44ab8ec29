"""Row verdicts for a batch of raw values: the column judges of ``features/columns.py``
(the value rules inference applies too), kept for every row.

Inference stops at a request's first fault; the ETL must instead keep every row's
outcome, so each column is judged whole (typed values plus every faulty row, with the
rule's own message) and each row takes the first fault it has.

Reasons, in the order a row is checked (a row takes the first that applies):
``malformed_record`` (the line does not parse), ``missing_required``, ``wrong_type``,
``out_of_range``, ``unknown_category``. Within a reason, columns are checked in the raw
column order of the schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from config.schema import DatasetSchema, FeatureType, ProblemType
from features.columns import (
    MISSING,
    OUT_OF_RANGE,
    UNKNOWN_CATEGORY,
    WRONG_TYPE,
    Judged,
    judge_booleans,
    judge_categories,
    judge_feature,
    judge_numbers,
    judge_texts,
    judge_timestamps,
)

MALFORMED = "malformed_record"
REASON_ORDER = (MALFORMED, MISSING, WRONG_TYPE, OUT_OF_RANGE, UNKNOWN_CATEGORY)


@dataclass
class BatchVerdict:
    """Typed columns (processed kinds) and, per row, the first rule it breaks (or None).

    Boolean columns (and a binary target) come with ``present``: where a value was given.
    """

    columns: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    reason: np.ndarray
    column: np.ndarray
    detail: np.ndarray


def _class_texts(values: Sequence[object]) -> Sequence[object]:
    """A multiclass target's raw values, with JSON integers as their text: a JSON-lines
    file writes class "2" as the number 2, which a CSV file writes as the text 2."""
    if not any(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return values
    return [
        str(int(v))
        if isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer()
        else v
        for v in values
    ]


def _judge_target(schema: DatasetSchema, values: Sequence[object]) -> Judged:
    target = schema.target
    if schema.problem_type is ProblemType.BINARY_CLASSIFICATION:
        return judge_booleans(values, required=True)
    if schema.problem_type is ProblemType.MULTICLASS_CLASSIFICATION:
        named = judge_categories(_class_texts(values), target.classes, required=True)
        index = {name: position for position, name in enumerate(target.classes)}
        # The curated target is the class's index in target.classes (-1 marks no value).
        indices = np.array([index.get(v, -1) for v in named.values.tolist()], dtype=np.int32)
        return Judged(indices, named.faults)
    return judge_numbers(values, required=True, minimum=target.minimum, maximum=target.maximum)


def judge(
    schema: DatasetSchema, raw: Mapping[str, Sequence[object]], malformed: np.ndarray
) -> BatchVerdict:
    """Apply the value rules to one batch of raw columns (``schema.raw_columns`` keys, all
    of the batch's length; malformed rows hold None) and keep every row's outcome."""
    rows = len(malformed)
    checked: dict[str, Judged] = {}
    if schema.id_column is not None:
        checked[schema.id_column] = judge_texts(raw[schema.id_column], required=True)
    if schema.event_time_column is not None:
        times = raw[schema.event_time_column]
        checked[schema.event_time_column] = judge_timestamps(times, required=True)
    for feature in schema.features:
        checked[feature.name] = judge_feature(feature, raw[feature.name])
    checked[schema.target.name] = _judge_target(schema, raw[schema.target.name])

    columns: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    boolean = {f.name for f in schema.features if f.type is FeatureType.BOOLEAN}
    for name in schema.raw_columns:
        values = checked[name].values
        if name in boolean or (
            name == schema.target.name and schema.problem_type is ProblemType.BINARY_CLASSIFICATION
        ):
            present[name] = ~np.isnan(values)
            flags = values == 1.0
            values = flags.astype(np.int32) if name == schema.target.name else flags
        elif (
            name == schema.target.name
            and schema.problem_type is ProblemType.MULTICLASS_CLASSIFICATION
        ):
            present[name] = values >= 0
        columns[name] = values

    reason = np.full(rows, None, dtype=object)
    failed = np.full(rows, None, dtype=object)
    detail = np.full(rows, None, dtype=object)
    reason[malformed] = MALFORMED
    detail[malformed] = "the record does not parse into the header's columns"
    open_rows = ~malformed
    for why in REASON_ORDER[1:]:
        for name in schema.raw_columns:
            for row, (fault, message) in sorted(checked[name].faults.items()):
                if fault == why and open_rows[row]:
                    reason[row], failed[row], detail[row] = why, name, message
                    open_rows[row] = False
    return BatchVerdict(
        columns=columns, present=present, reason=reason, column=failed, detail=detail
    )
