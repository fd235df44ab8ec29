"""The contract tier: our artifacts under the real package the AWS runtime uses.

The SageMaker XGBoost 3.2-0 image trains and serves with sagemaker-containers 2.8.6 on
Python 3.12 (its own lock: local/image/image.json); these tests run the synthesized
pipeline's jobs and the registered model's serving code in local containers of that
image (``local/image/container.py``: the image's environment, the template's
``Environment`` and nothing else, no network when the template isolates), reading every
setting that decides the contract (program, submit directory, container environment)
from the synthesized cloud assembly, never restating it.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from local.cdk_assembly import load_pipeline_template
from local.image.container import BYTECODE_SETTING, IMAGE_VENV
from local.moto_platform import ACCOUNT, REGION
from local.serving.hosted_model import StagedModel


@pytest.fixture(autouse=True)
def image_environment() -> None:
    """Each contract test fails (not the run) when the image environment is missing."""
    if not (IMAGE_VENV / "bin" / "python").exists():
        pytest.fail(f"{IMAGE_VENV} is missing: `make install` builds the image environment")


@contextmanager
def as_the_image() -> Iterator[None]:
    """Containers started inside start as the image starts: without the LOCAL bytecode
    layer (local/image/bytecode.py), each process compiling what it imports, as in
    SageMaker. For the tests of the start itself (a worker must boot within gunicorn's
    timeout with that cost in it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BYTECODE_SETTING, "none")
        yield


@pytest.fixture(scope="session")
def pipeline_template(synth_report):
    return load_pipeline_template(synth_report.assembly_dir, "Dev")


@pytest.fixture(scope="session")
def definition(pipeline_template) -> dict[str, Any]:
    """The Dev pipeline definition with placeholder values for the deploy-time names."""
    names = {name: f"local-{name.lower()}" for name in pipeline_template.values}
    return pipeline_template.render(
        {
            **names,
            **pipeline_template.literal_values(),
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
        }
    )


def step_arguments(definition: dict[str, Any], name: str) -> dict[str, Any]:
    """The ``Arguments`` of step ``name`` (nested condition branches included)."""
    pending = list(definition["Steps"])
    while pending:
        step = pending.pop()
        if step["Name"] == name:
            return copy.deepcopy(step["Arguments"])
        arguments = step.get("Arguments", {})
        pending += arguments.get("IfSteps", []) + arguments.get("ElseSteps", [])
    raise KeyError(name)


@pytest.fixture(scope="session")
def registered_environment(definition) -> dict[str, str]:
    """The serving container's environment, as the Register step records it."""
    container = step_arguments(definition, "Register")["InferenceSpecification"]["Containers"][0]
    return dict(container["Environment"])


def stage(model_dir: Path, environment: dict[str, str], root: Path) -> StagedModel:
    """``model_dir`` (with the code/ train.py wrote) where the serving container extracts
    model.tar.gz, under ``root``, with the declared ``environment``."""
    opt_ml = root / "opt" / "ml"
    shutil.copytree(model_dir, opt_ml / "model")
    return StagedModel(opt_ml=opt_ml, environment=dict(environment))
