"""A trained model as the pipeline packages it: ``model.tar.gz`` with the booster
(``model.ubj``) and its fitted transformation (``transform.json``) side by side."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

import xgboost as xgb

from features.transform import FeatureTransform

MODEL_FILE = "model.ubj"


def load_packaged(archive_path: Path) -> tuple[xgb.Booster, FeatureTransform]:
    """The booster and fitted transformation inside a model.tar.gz."""
    with tempfile.TemporaryDirectory() as extracted:
        with tarfile.open(archive_path) as archive:
            archive.extractall(extracted, filter="data")
        booster = xgb.Booster()
        booster.load_model(Path(extracted) / MODEL_FILE)
        return booster, FeatureTransform.load(Path(extracted))
