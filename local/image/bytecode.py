"""A LOCAL speed-up: compiled bytecode for the image environment, kept beside it.

The XGBoost 3.2-0 image installs its packages with ``uv sync``, which compiles nothing,
and sets ``PYTHONDONTWRITEBYTECODE=1`` (Dockerfile at the commit ``image.json`` names):
every process in SageMaker compiles each module it imports, about 3 s of a job's start
here (pandas, scipy, sklearn, matplotlib). ``.venv-xgboost`` stays exactly that, and
``bench/endpoint.py`` measures cold start on it. ``make test`` starts about 80
containers and ``make run`` about 20: for them this module builds a layer holding only
the ``.pyc`` files ``compileall`` writes for the image environment's own sources,
compiled inside a container of the image (so the paths are ``/opt/venv``'s), which a
container mounts as the top lower layer of its ``/opt/venv``.

The layer can only cache what runs, never change it: Python checks each ``.pyc``
against its source's modification time and size and compiles the source when they
differ, and ``check`` (run by ``make install`` and the contract tier) fails when the
layer holds anything but ``.pyc`` files valid for a source of the image environment.
Every job and endpoint names which it ran with (``describe_runtime``);
``LOCAL_IMAGE_BYTECODE=none`` runs containers with the image's start as it is.

``python -m local.image.bytecode`` builds the layer (``make install`` does).
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from local.image.container import (
    BYTECODE_LAYER,
    IMAGE_VENV,
    REPO_ROOT,
    VENV,
    Container,
    image_record,
    outside_environment,
    run,
)

# What the layer describes itself with: beside the layer's tree, not inside it.
BUILT = BYTECODE_LAYER.parent / "built.json"
# A .pyc header (PEP 552): magic, flags, then the source's mtime and size.
HEADER = struct.Struct("<4sIII")
TIMESTAMP_BASED = 0
PRINT_MAGIC = "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"


def build() -> int:
    """Compile the image environment in a container of the image (no layer, no network);
    its writable layer becomes ``BYTECODE_LAYER``. Returns the number of ``.pyc`` files."""
    site_packages = f"{VENV}/lib/python3.12/site-packages"
    with tempfile.TemporaryDirectory(dir=REPO_ROOT, prefix=".bytecode-build-") as root:
        container = Container(Path(root), isolated=True, precompiled=False)
        log = Path(root) / "compileall.log"
        completed = run(
            container,
            ["python3", "-m", "compileall", "-q", "-j", "0", site_packages],
            container.environment({}),
            log=log,
        )
        if completed.returncode != 0:
            raise SystemExit(f"compileall failed in the image:\n{log.read_text()[-2000:]}")
        upper = Path(root) / "layer" / "upper"
        count = len(check(upper))
        BUILT.unlink(missing_ok=True)
        shutil.rmtree(BYTECODE_LAYER, ignore_errors=True)
        BYTECODE_LAYER.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(upper, BYTECODE_LAYER)
    BUILT.write_text(json.dumps({"image": image_record().label, "files": count}) + "\n")
    return count


def check(layer: Path) -> list[Path]:
    """Every file under ``layer``: each must be the ``.pyc`` Python would read for a
    source file of the image environment, valid for that source as it is. Raises
    ``ValueError`` naming the first file that is not."""
    files = sorted(path for path in layer.rglob("*") if not path.is_dir())
    magic = _image_magic()
    for path in files:
        source = _source_of(path.relative_to(layer))
        if source is None:
            raise ValueError(f"{path}: not a .pyc of a source in {IMAGE_VENV}")
        written, flags, mtime, size = HEADER.unpack(path.read_bytes()[: HEADER.size])
        stat = source.stat()
        if written != magic:
            raise ValueError(f"{path}: not bytecode of the image's Python")
        if flags != TIMESTAMP_BASED or (mtime, size) != (
            int(stat.st_mtime) & 0xFFFFFFFF,
            stat.st_size & 0xFFFFFFFF,
        ):
            raise ValueError(f"{path}: stale for {source} (rebuild: make install)")
    return files


def _source_of(relative: Path) -> Path | None:
    """The image environment's source file a layer file caches, or None."""
    if relative.parent.name != "__pycache__" or relative.suffix != ".pyc":
        return None
    module = relative.name.split(".")[0]
    source = IMAGE_VENV / relative.parent.parent / f"{module}.py"
    return source if source.is_file() else None


def _image_magic() -> bytes:
    """The bytecode magic number of the image's Python (this module runs on the
    project's, another version)."""
    completed = subprocess.run(
        [str(IMAGE_VENV / "bin" / "python"), "-c", PRINT_MAGIC],
        env=outside_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    return bytes.fromhex(completed.stdout.strip())


def main(argv: list[str] | None = None) -> None:
    """``python -m local.image.bytecode``: build the layer, or ``--check`` it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="check the layer; build nothing")
    args = parser.parse_args(argv)
    if args.check:
        print(f"{len(check(BYTECODE_LAYER))} .pyc files, each valid for its source")
        return
    count = build()
    print(f"LOCAL bytecode layer: {count} .pyc files for {IMAGE_VENV.name} in {BYTECODE_LAYER}")


if __name__ == "__main__":
    main()
