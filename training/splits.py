"""The on-disk form of a data split, shared by preprocess, train and evaluate.

A split is one uncompressed ``.npz`` file: ``features`` (float32, encoded), ``labels``
and ``names``. Loading it is a memory copy, so the training job spends its time
training, not parsing text.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SPLITS = ("train", "validation", "test")


def split_file(directory: Path, name: str) -> Path:
    return directory / f"{name}.npz"


def save_split(
    directory: Path, name: str, features: np.ndarray, labels: np.ndarray, names: list[str]
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = split_file(directory, name)
    np.savez(
        path,
        features=features.astype(np.float32),
        labels=labels.astype(np.float32),
        names=np.array(names),
    )
    return path


def load_split(directory: Path, name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    with np.load(split_file(directory, name)) as data:
        return data["features"], data["labels"], [str(n) for n in data["names"]]


def load_raw_test(directory: Path) -> list[dict[str, str]]:
    """The test split's raw feature values (``test_raw.csv``, preprocess writes it), one
    record per row in the order of ``test.npz``."""
    with (directory / "test_raw.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))
