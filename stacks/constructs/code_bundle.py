"""The code bundles SageMaker downloads: reproducible .tar.gz files built at synth time.

The training bundle mirrors the repository (``training/``, ``monitoring/``,
``features/``, ``config/``), so every entry point (the monitor's processing job too)
imports the same modules it imports in the tests. The inference
bundle has ``inference.py`` at its root, as the serving container's
``SAGEMAKER_PROGRAM`` expects, next to the packages it imports. Archives are
byte-for-byte reproducible (sorted entries, fixed times and owners), so an unchanged
tree keeps its CDK asset hash and nothing is re-uploaded.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "features")
SHIPPED_SUFFIXES = (".py", ".json")


def _package_files(package: str) -> list[tuple[Path, str]]:
    root = REPO_ROOT / package
    return [
        (path, path.relative_to(REPO_ROOT).as_posix())
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in SHIPPED_SUFFIXES and "__pycache__" not in path.parts
    ]


def training_members() -> list[tuple[Path, str]]:
    """(file, name in archive) of the training bundle."""
    return [m for package in ("training", "monitoring", *PACKAGES) for m in _package_files(package)]


def inference_members() -> list[tuple[Path, str]]:
    """(file, name in archive) of the inference bundle: inference.py at the root."""
    entry = REPO_ROOT / "inference" / "inference.py"
    return [(entry, "inference.py"), *(m for p in PACKAGES for m in _package_files(p))]


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


def build_bundles(out_dir: Path) -> dict[str, Path]:
    """Both bundles under ``out_dir``: {"training": ..., "inference": ...}."""
    return {
        "training": write_archive(training_members(), out_dir / "training-source.tar.gz"),
        "inference": write_archive(inference_members(), out_dir / "inference-source.tar.gz"),
    }
