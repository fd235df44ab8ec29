"""The source bundle SageMaker downloads: a reproducible .tar.gz built at synth time.

It mirrors the repository (``training/``, ``monitoring/``, ``features/``,
``config/``, ``inference/``), so
every entry point imports the same modules it imports in the tests, plus the training
program at the bundle's root: sagemaker-containers runs ``sagemaker_program`` as
``python -m <name>`` from the extracted bundle, so a program inside a folder
(``training/train.py``) would not run. ``train.py`` writes the serving code
(``inference/`` with its packages) into the model directory, so ``model.tar.gz`` holds
everything the endpoint runs. The archive is byte-for-byte reproducible (sorted entries,
fixed times and owners), so an unchanged tree keeps its CDK asset hash and nothing is
re-uploaded.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

from training.serving_code import package_files

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("training", "monitoring", "config", "features", "inference")
# sagemaker_program: a module at the bundle's root (see the module docstring).
TRAINING_PROGRAM = "train.py"


def _package_files(package: str) -> list[tuple[Path, str]]:
    return [
        (path, path.relative_to(REPO_ROOT).as_posix()) for path in package_files(REPO_ROOT, package)
    ]


def training_members() -> list[tuple[Path, str]]:
    """(file, name in archive) of the source bundle."""
    program = (REPO_ROOT / "training" / "train.py", TRAINING_PROGRAM)
    return [program, *(m for package in PACKAGES for m in _package_files(package))]


def write_archive(members: Iterable[tuple[Path, str]], destination: Path) -> Path:
    """Write a reproducible .tar.gz of ``members`` to ``destination`` (atomically)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, name in sorted(members, key=lambda member: member[1]):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped:
        zipped.write(buffer.getvalue())
    # Concurrent synths (tests) may build the same bundle: the rename keeps it whole.
    os.replace(temporary, destination)
    return destination


def build_bundle(out_dir: Path) -> Path:
    """The source bundle under ``out_dir``."""
    return write_archive(training_members(), out_dir / "training-source.tar.gz")
