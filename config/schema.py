"""The dataset schema: the one description of a dataset that every consumer reads.

ETL validation, the Glue Data Catalog tables, feature derivation, preprocessing,
inference input checks and monitoring all take their facts from a ``DatasetSchema``
loaded from a JSON file in ``config/datasets/``. Changing dataset is a change of
that file, never of code.

Every schema name is imported from here. The parts a schema is made of live in
``config/schema_types.py``, their validation in ``config/schema_parse.py`` over the JSON
reader of ``config/schema_reader.py``. None of them has a third-party dependency, on
purpose: they ship to AWS Glue (``--extra-py-files``) and into the SageMaker
containers, which have only the standard library in common.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.schema_facets import parse_facets
from config.schema_parse import (
    ROOT_KEYS,
    check_columns,
    parse_derived,
    parse_feature,
    parse_gate,
    parse_raw_headers,
    parse_target,
)
from config.schema_reader import Node, Problems, json_fix
from config.schema_types import (
    FALSE_TOKENS,
    GATE_METRICS,
    KIND_BOOLEAN,
    KIND_DOUBLE,
    KIND_INT,
    KIND_STRING,
    KIND_TIMESTAMP,
    LINEAGE_COLUMNS,
    METRIC_GROUPS,
    PARTITION_COLUMN,
    ROW_KEY_COLUMN,
    TRUE_TOKENS,
    DerivedFeature,
    DerivedOp,
    Facet,
    Feature,
    FeatureType,
    Problem,
    ProblemType,
    QualityGate,
    SchemaError,
    Target,
    display_path,
)

__all__ = [
    "DATASETS_DIR",
    "DEFAULT_DATASET",
    "FALSE_TOKENS",
    "GATE_METRICS",
    "KIND_BOOLEAN",
    "KIND_DOUBLE",
    "KIND_INT",
    "KIND_STRING",
    "KIND_TIMESTAMP",
    "LINEAGE_COLUMNS",
    "METRIC_GROUPS",
    "PARTITION_COLUMN",
    "ROW_KEY_COLUMN",
    "TRUE_TOKENS",
    "DatasetSchema",
    "DerivedFeature",
    "DerivedOp",
    "Facet",
    "Feature",
    "FeatureType",
    "Problem",
    "ProblemType",
    "QualityGate",
    "SchemaError",
    "Target",
    "dataset_names",
    "display_path",
    "load_schema",
    "schema_path",
]

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
DEFAULT_DATASET = "churn"


@dataclass(frozen=True)
class DatasetSchema:
    """A validated dataset description. Build it with ``load_schema`` or ``from_dict``.

    ``id_column`` and ``event_time_column`` are optional. Without an id, every raw record
    is a row of its own (nothing is de-duplicated) and the ETL keys it by
    ``ROW_KEY_COLUMN``; whatever needs a row's key asks ``row_key``. Without an event
    time, a row's partition month is its raw file's own time (S3 LastModified).
    ``raw_headers`` names the columns the raw files spell otherwise (``Culmen Length
    (mm)`` for ``culmen_length_mm``): only the raw zone sees those; ``raw_header`` says
    which header a column is read from.
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
    # (column, the header the raw files give it) for the columns the files name otherwise.
    raw_headers: tuple[tuple[str, str], ...] = ()
    # Sensitive features whose groups the bias metrics compare.
    facets: tuple[Facet, ...] = ()

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
    def required_raw_columns(self) -> list[str]:
        """Columns every raw record must have: a file without one of them cannot yield a
        valid row (the id and event time the dataset has, each non-nullable feature, the
        target). A nullable feature's column may be absent."""
        return [
            *self.record_columns,
            *(f.name for f in self.features if not f.nullable),
            self.target.name,
        ]

    def raw_header(self, column: str) -> str:
        """The header (CSV) or key (JSON lines) that names ``column`` in the raw files."""
        return dict(self.raw_headers).get(column, column)

    @property
    def raw_header_names(self) -> list[str]:
        """The raw files' names of ``raw_columns``, in the same order."""
        headers = dict(self.raw_headers)
        return [headers.get(c, c) for c in self.raw_columns]

    @property
    def target_kind(self) -> str:
        return KIND_INT if self.problem_type.is_classification else KIND_DOUBLE

    @property
    def class_count(self) -> int:
        """How many values the model predicts a probability for (1 for regression)."""
        if self.problem_type is ProblemType.MULTICLASS_CLASSIFICATION:
            return len(self.target.classes)
        return 2 if self.problem_type is ProblemType.BINARY_CLASSIFICATION else 1

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
        return _parse_schema(Node(data, "schema"))

    @classmethod
    def from_json(cls, text: str) -> DatasetSchema:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(
                Problem(
                    f"line {exc.lineno} column {exc.colno}",
                    f"not valid JSON ({exc.msg})",
                    json_fix(text, exc),
                )
            ) from None
        return cls.from_dict(data)


def schema_path(name_or_path: str | Path) -> Path:
    """The file of a dataset name (``config/datasets/<name>.json``) or of a ``.json`` path."""
    path = Path(name_or_path)
    return path if path.suffix == ".json" else DATASETS_DIR / f"{name_or_path}.json"


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


def _parse_schema(root: Node) -> DatasetSchema:
    problems = Problems()
    if problems.attempt(root.mapping) is None:
        raise SchemaError(problems.found)
    root.check_keys(ROOT_KEYS, problems)

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
    target = parse_target(target_node, problem_type, problems) if target_node else None
    features_node = problems.attempt(lambda: root.child("features"))
    feature_nodes = problems.attempt(features_node.items) if features_node else None
    if features_node is not None and feature_nodes == []:
        problems.add(features_node.path, "must list at least one feature", "declare the inputs")
    parsed = [(n, parse_feature(n, problems)) for n in feature_nodes or []]
    features = tuple(f for _, f in parsed if f is not None)
    declared = {
        str(n.value["name"])
        for n in feature_nodes or []
        if isinstance(n.value, Mapping) and isinstance(n.value.get("name"), str)
    }
    by_name = {f.name: f for f in features}
    derived_node = root.child("derived_features", required=False, default=[])
    derived_nodes = problems.attempt(derived_node.items) or []
    derived = [(n, parse_derived(n, by_name, declared, problems)) for n in derived_nodes]
    gate_node = problems.attempt(lambda: root.child("quality_gate"))
    quality_gate = parse_gate(gate_node, problem_type, problems) if gate_node else None

    columns = [
        (f"{root.path}.id_column", id_column),
        (f"{root.path}.event_time_column", event_time_column),
        *((n.path, f.name if f else None) for n, f in parsed),
        *((n.path, d.name if d else None) for n, d in derived),
        (f"{root.path}.target.name", target.name if target else None),
    ]
    check_columns([(path, c) for path, c in columns if c is not None], problems)
    raw_columns = [
        *(c for c in (id_column, event_time_column) if c is not None),
        *(f.name for f in features),
        *([target.name] if target else []),
    ]
    raw_headers = parse_raw_headers(
        root.child("raw_headers", required=False), raw_columns, problems
    )
    facets = parse_facets(root.child("facets", required=False), by_name, problem_type, problems)
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
        raw_headers=raw_headers,
        facets=facets,
    )
