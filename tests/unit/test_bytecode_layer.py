"""The LOCAL bytecode layer can only spare a compile: ``check`` refuses a layer that
holds anything Python would run instead of the image environment's own sources, and
a container mounts it only when asked, naming it in its runtime record."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from local.image import bytecode
from local.image.container import (
    BYTECODE_LAYER,
    BYTECODE_SETTING,
    IMAGE_VENV,
    Container,
    describe_runtime,
    precompiled_by_default,
    run,
)

SITE = Path("lib") / "python3.12" / "site-packages"
# pandas' package module: in the image environment, and compiled into the layer.
PANDAS_PYC = SITE / "pandas" / "__pycache__" / "__init__.cpython-312.pyc"


@pytest.fixture
def layer(tmp_path) -> Path:
    """A one-file copy of the built layer: pandas/__init__'s bytecode."""
    if not (BYTECODE_LAYER / PANDAS_PYC).exists():
        pytest.fail("`make install` builds the LOCAL bytecode layer")
    copy = tmp_path / "layer"
    (copy / PANDAS_PYC).parent.mkdir(parents=True)
    shutil.copy2(BYTECODE_LAYER / PANDAS_PYC, copy / PANDAS_PYC)
    return copy


def test_a_pyc_valid_for_its_source_passes(layer) -> None:
    assert bytecode.check(layer) == [layer / PANDAS_PYC]


def test_a_source_file_in_the_layer_is_refused(layer) -> None:
    (layer / SITE / "pandas" / "__init__.py").write_text("raise SystemExit('not the image')\n")
    with pytest.raises(ValueError, match=r"__init__\.py: not a \.pyc of a source"):
        bytecode.check(layer)


def test_bytecode_of_a_module_the_image_lacks_is_refused(layer) -> None:
    shutil.copy2(layer / PANDAS_PYC, layer / PANDAS_PYC.with_name("extra.cpython-312.pyc"))
    with pytest.raises(ValueError, match=r"extra\.cpython-312\.pyc: not a \.pyc of a source"):
        bytecode.check(layer)


def test_bytecode_of_another_version_of_the_source_is_refused(layer) -> None:
    data = bytearray((layer / PANDAS_PYC).read_bytes())
    data[8:12] = (int.from_bytes(data[8:12], "little") - 1).to_bytes(4, "little")  # mtime
    (layer / PANDAS_PYC).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="stale for"):
        bytecode.check(layer)


def test_the_setting_is_one_of_two(monkeypatch) -> None:
    monkeypatch.setenv(BYTECODE_SETTING, "none")
    assert precompiled_by_default() is False
    monkeypatch.setenv(BYTECODE_SETTING, "yes")
    with pytest.raises(ValueError, match="LOCAL_IMAGE_BYTECODE='yes': one of layer, none"):
        precompiled_by_default()


SEES_PYC = f"""
import os, sys
sys.exit(0 if os.path.exists('/opt/venv/{PANDAS_PYC}') else 3)
"""


@pytest.mark.parametrize("precompiled", [True, False])
def test_a_container_sees_the_layer_only_when_it_mounts_it(tmp_path, precompiled) -> None:
    """With the layer, /opt/venv holds the .pyc; without it, /opt/venv is the image
    environment as built (no bytecode), and each says which it was in its runtime."""
    container = Container(tmp_path / "job", isolated=True, precompiled=precompiled)
    argv = ["python3", "-c", SEES_PYC]
    completed = run(container, argv, container.environment({}), log=tmp_path / "job.log")
    assert completed.returncode == (0 if precompiled else 3)
    runtime = container.runtime()
    assert runtime["bytecode"] == ("layer" if precompiled else "none")
    assert ("LOCAL precompiled bytecode" in describe_runtime(runtime)) is precompiled
    assert not (IMAGE_VENV / PANDAS_PYC).exists()
