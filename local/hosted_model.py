"""A registered model package, laid out and loaded as the serving container does.

The package's container says where everything is: ``ModelDataUrl`` (model.tar.gz,
extracted into the model directory) and the ``SAGEMAKER_SUBMIT_DIRECTORY`` bundle
(extracted into the code directory), whose ``SAGEMAKER_PROGRAM`` module holds the four
hooks. Loading imports that module from the code directory, never from this checkout,
so what is served is exactly what was registered.
"""

from __future__ import annotations

import importlib.util
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from local.s3_sync import split_uri


@dataclass(frozen=True)
class HostedModel:
    """The four hooks of a served model and the model ``model_fn`` loaded."""

    module: ModuleType
    model: Any

    def invoke(self, body: bytes | str, content_type: str, accept: str) -> Any:
        data = self.module.input_fn(body, content_type)
        return self.module.output_fn(self.module.predict_fn(data, self.model), accept)


def _extract(s3: Any, uri: str, destination: Path) -> None:
    bucket, key = split_uri(uri)
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "archive.tar.gz"
        s3.download_file(bucket, key, str(archive))
        with tarfile.open(archive) as tar:
            tar.extractall(destination, filter="data")


def stage_model_package(sagemaker: Any, s3: Any, arn: str, root: Path) -> dict[str, str]:
    """Download the package's model and code under ``root``; return the serving env."""
    container = sagemaker.describe_model_package(ModelPackageName=arn)["InferenceSpecification"][
        "Containers"
    ][0]
    environment = container.get("Environment", {})
    model_dir, code_dir = root / "model", root / "code"
    _extract(s3, container["ModelDataUrl"], model_dir)
    _extract(s3, environment["SAGEMAKER_SUBMIT_DIRECTORY"], code_dir)
    return {
        "SAGEMAKER_PROGRAM": environment["SAGEMAKER_PROGRAM"],
        "SM_MODEL_DIR": str(model_dir),
        "SAGEMAKER_CODE_DIR": str(code_dir),
    }


def load_hosted_model(model_dir: Path, code_dir: Path, program: str) -> HostedModel:
    """Import ``program`` from ``code_dir`` (with its packages) and run ``model_fn`` once."""
    # The bundle's packages (features/, config/) must win over any copy on sys.path.
    sys.path.insert(0, str(code_dir))
    for name in [n for n in sys.modules if n.split(".")[0] in ("features", "config")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(Path(program).stem, code_dir / program)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {program} from {code_dir}")
    module = importlib.util.module_from_spec(spec)
    # Registered under its own name, as the container imports the user module.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return HostedModel(module=module, model=module.model_fn(str(model_dir)))
