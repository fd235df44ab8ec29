"""The image environment is the XGBoost 3.2-0 image's own build, and nothing else.

``local/image/lock`` holds the image's published ``pyproject.toml`` and ``uv.lock``
(aws/deep-learning-containers, ``docker/xgboost``, at the commit ``image.json`` names);
``make install`` builds ``.venv-xgboost`` from them. These tests fail when an installed
version, the Python, a patch or the recorded files drift from that record, so upgrading
the image is: replace the two files, update the record, rerun.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tomllib

import pytest
from packaging.markers import Marker

from local.image import bytecode
from local.image.container import (
    BYTECODE_LAYER,
    IMAGE_VENV,
    RECORD,
    image_record,
    outside_environment,
)

LOCK = RECORD.parent / "lock"
INSPECT = """
import importlib.metadata as metadata, json, platform
print(json.dumps({
    "python": platform.python_version(),
    "packages": {d.metadata["Name"]: d.version for d in metadata.distributions()},
}))
"""
PATCHED = """
import io, numpy as np
import sagemaker_containers._mapping  # collections.Mapping is gone in 3.10+: the sed
from sagemaker_inference import decoder, errors
buffer = io.BytesIO()
np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
try:
    decoder.decode(buffer.getvalue(), "application/x-npy")
    raise SystemExit("a pickled NPY body was loaded")
except ValueError:
    pass
try:
    decoder.decode("1,2\\n3", "text/csv")
    raise SystemExit("a ragged CSV body was accepted")
except errors.UnsupportedFormatError:
    pass
print("patched")
"""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _image_python(code: str) -> str:
    completed = subprocess.run(
        [str(IMAGE_VENV / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env=outside_environment(),
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.fixture(scope="module")
def installed() -> dict:
    return json.loads(_image_python(INSPECT))


def test_the_recorded_files_are_the_ones_in_the_repository() -> None:
    record = json.loads(RECORD.read_text())
    for name, digest in record["source"]["files"].items():
        assert hashlib.sha256((LOCK / name).read_bytes()).hexdigest() == digest, name
    assert re.fullmatch(r"[0-9a-f]{40}", record["source"]["commit"])


def _locked_for(python: str) -> dict[str, str]:
    """The lock's packages that this platform installs: the project's dependency graph
    walked from its root, each edge kept when its marker holds (Linux, ``python``)."""
    lock = tomllib.loads((LOCK / "uv.lock").read_text())
    packages = {_canonical(p["name"]): p for p in lock["package"]}
    here = {"python_version": python.rsplit(".", 1)[0], "python_full_version": python}
    wanted: dict[str, str] = {}
    pending = [d for p in packages.values() if "virtual" in p["source"] for d in p["dependencies"]]
    while pending:
        edge = pending.pop()
        if "marker" in edge and not Marker(edge["marker"]).evaluate(here):
            continue
        package = packages[_canonical(edge["name"])]
        extras = [
            d for extra in edge.get("extra", []) for d in package["optional-dependencies"][extra]
        ]
        if _canonical(edge["name"]) not in wanted or extras:
            wanted[_canonical(edge["name"])] = package["version"]
            pending += package.get("dependencies", []) + extras
    return wanted


def test_every_installed_version_is_the_locked_one(installed) -> None:
    locked = _locked_for(installed["python"])
    present = {_canonical(name): version for name, version in installed["packages"].items()}
    assert present == locked
    # The versions the issue and the architecture page name, read from the lock itself.
    for name, version in {
        "sagemaker-containers": "2.8.6.post2",
        "flask": "3.1.3",
        "werkzeug": "3.1.8",
        "pip": "26.1",
        "setuptools": "80.10.2",
        "xgboost": "3.2.0",
        "numpy": "2.1.0",
    }.items():
        assert locked[name] == version


def test_the_python_is_the_images(installed) -> None:
    lock = tomllib.loads((LOCK / "uv.lock").read_text())
    assert lock["requires-python"] == f"=={image_record().python}.*"
    assert installed["python"].rsplit(".", 1)[0] == image_record().python


def test_both_dockerfile_patches_are_applied() -> None:
    assert _image_python(PATCHED).strip() == "patched"


SCORES_AGREE = """
import sys
sys.path.insert(0, {root!r})
import numpy as np, xgboost as xgb
from features.booster_scores import BoosterScores
rng = np.random.default_rng(0)
data = rng.normal(size=(300, 5)).astype(np.float32)
data[rng.random(data.shape) < 0.1] = np.nan
for objective, labels, extra in [
    ("binary:logistic", np.arange(300) % 2, {{}}),
    ("reg:squarederror", np.linspace(0, 1, 300), {{}}),
    ("multi:softprob", np.arange(300) % 3, {{"num_class": 3}}),
]:
    booster = xgb.train({{"objective": objective, **extra}}, xgb.DMatrix(data, label=labels), 8)
    booster.set_param({{"nthread": 1}})
    for rows in (1, 700):
        matrix = np.ascontiguousarray(data[:rows] if rows < 300 else np.tile(data, (3, 1))[:rows])
        expected = np.asarray(booster.inplace_predict(matrix), dtype=np.float64)
        if not np.array_equal(BoosterScores.of(booster)(matrix), expected):
            raise SystemExit(f"{{objective}}, {{rows}} rows: the scores differ")
print("agree")
"""


def test_the_serving_scores_are_inplace_predicts_under_the_images_xgboost() -> None:
    """``features/booster_scores.py`` calls xgboost's C API as the image's xgboost
    defines it: its scores equal ``inplace_predict``'s there, for every problem type."""
    root = str(RECORD.parents[2])
    assert _image_python(SCORES_AGREE.format(root=root)).strip() == "agree"


def test_no_bytecode_is_added_to_the_image_environment() -> None:
    """The image's packages come from ``uv sync``, which compiles nothing, and the image
    sets PYTHONDONTWRITEBYTECODE: every process compiles what it imports at start (part of
    a cold start in AWS). A ``.pyc`` here (written by a process run on the image's Python
    outside a container) would make local starts faster than the image's."""
    written = sorted(IMAGE_VENV.rglob("*.pyc"))
    assert written == [], f"{len(written)} .pyc files, e.g. {written[:3]}"


def test_the_bytecode_layer_only_caches_the_image_environment() -> None:
    """The LOCAL bytecode layer (local/image/bytecode.py) holds nothing but the ``.pyc``
    Python would read for a source of the image environment, valid for it as it is now:
    it can spare the compile, never change what runs."""
    assert BYTECODE_LAYER.is_dir(), "`make install` builds the LOCAL bytecode layer"
    files = bytecode.check(BYTECODE_LAYER)
    built = json.loads(bytecode.BUILT.read_text())
    assert len(files) == built["files"] > 1000
    assert built["image"] == image_record().label
