"""The serving code that travels inside ``model.tar.gz``, under ``code/``.

SageMaker's repack puts an entry point and its packages in the model archive's
``code/`` folder and points ``SAGEMAKER_SUBMIT_DIRECTORY`` at ``/opt/ml/model/code``;
the Train step lays out the same folder itself, so every registered version carries
the exact code it is served with and needs no other S3 object (no repack job either).
"""

from __future__ import annotations

import shutil
from pathlib import Path

CODE_DIR = "code"
PROGRAM = "inference.py"
# Where the serving container finds the code once it has extracted model.tar.gz.
SUBMIT_DIRECTORY = f"/opt/ml/model/{CODE_DIR}"
PACKAGES = ("features", "config")
SHIPPED_SUFFIXES = (".py", ".json")


def package_files(root: Path, package: str) -> list[Path]:
    """The files of ``root/package`` that ship (source bundle, model code): sorted."""
    return [
        path
        for path in sorted((root / package).rglob("*"))
        if path.is_file() and path.suffix in SHIPPED_SUFFIXES and "__pycache__" not in path.parts
    ]


def write_serving_code(model_dir: Path, source_root: Path) -> Path:
    """Copy ``inference/inference.py`` and its packages from ``source_root`` (the
    repository, or the unpacked source bundle) into ``model_dir/code``."""
    code = model_dir / CODE_DIR
    shutil.rmtree(code, ignore_errors=True)
    code.mkdir(parents=True)
    shutil.copyfile(source_root / "inference" / PROGRAM, code / PROGRAM)
    for package in PACKAGES:
        for path in package_files(source_root, package):
            target = code / path.relative_to(source_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return code
