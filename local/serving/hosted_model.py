"""A registered model package, laid out as the serving container lays it out.

The package's container says where everything is: ``ModelDataUrl`` (model.tar.gz,
extracted into ``/opt/ml/model``; its ``code/`` folder holds the serving code) and the
``SAGEMAKER_SUBMIT_DIRECTORY``/``SAGEMAKER_PROGRAM`` it names. ``stage_model_package``
does that download under a local ``opt/ml`` and returns the container's environment;
``load_hosted_model`` imports the staged program in this process (for benchmarks that
need the hooks without a server), never from this checkout.
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

from local.image.container import host_path
from local.s3_sync import split_uri
from training import serving_code


@dataclass(frozen=True)
class StagedModel:
    """A package's container, extracted under ``opt_ml``, with its environment."""

    opt_ml: Path
    environment: dict[str, str]

    @property
    def model_dir(self) -> Path:
        return self.opt_ml / "model"

    @property
    def code_dir(self) -> Path:
        """Where the container's ``SAGEMAKER_SUBMIT_DIRECTORY`` is on this machine."""
        return host_path(self.opt_ml, self.environment["SAGEMAKER_SUBMIT_DIRECTORY"])

    @property
    def program(self) -> str:
        return self.environment["SAGEMAKER_PROGRAM"]


@dataclass(frozen=True)
class HostedModel:
    """A served model's ``transform_fn`` and the model ``model_fn`` loaded, in-process."""

    module: ModuleType
    model: Any

    def invoke(self, body: bytes | str, content_type: str, accept: str) -> Any:
        return self.module.transform_fn(self.model, body, content_type, accept)


def _extract(s3: Any, uri: str, destination: Path) -> None:
    bucket, key = split_uri(uri)
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "archive.tar.gz"
        s3.download_file(bucket, key, str(archive))
        with tarfile.open(archive) as tar:
            tar.extractall(destination, filter="data")


def stage_model_package(sagemaker: Any, s3: Any, arn: str, root: Path) -> StagedModel:
    """Download the package's model under ``root/opt/ml/model``, as the endpoint does; the
    environment is the package container's, as declared."""
    container = sagemaker.describe_model_package(ModelPackageName=arn)["InferenceSpecification"][
        "Containers"
    ][0]
    # Absolute: the container runs with /opt/ml as its working directory.
    opt_ml = (root / "opt" / "ml").resolve()
    _extract(s3, container["ModelDataUrl"], opt_ml / "model")
    return StagedModel(opt_ml=opt_ml, environment=dict(container.get("Environment", {})))


def load_hosted_model(staged: StagedModel) -> HostedModel:
    """Import the staged program (with its packages) and run ``model_fn`` once."""
    code_dir = staged.code_dir
    # The bundle's packages (features/, config/) must win over any copy on
    # sys.path.
    sys.path.insert(0, str(code_dir))
    for name in [n for n in sys.modules if n.split(".")[0] in serving_code.PACKAGES]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        Path(staged.program).stem, code_dir / staged.program
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {staged.program} from {code_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return HostedModel(module=module, model=module.model_fn(str(staged.model_dir)))
