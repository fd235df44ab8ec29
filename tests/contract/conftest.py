"""The contract tier: our artifacts under the real package the AWS runtime uses.

The SageMaker XGBoost image trains and serves with sagemaker-containers 2.8.6; these
tests run the synthesized pipeline's Train step and the registered model's serving code
under that package (the ``.venv-xgboost`` environment ``make install`` builds), reading
every setting that decides the contract (program, submit directory, container
environment) from the synthesized cloud assembly, never restating it.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from local.cdk_assembly import load_pipeline_template
from local.moto_platform import ACCOUNT, REGION
from local.serving.hosted_model import StagedModel
from local.serving.image_process import IMAGE_PYTHON, remap

if not IMAGE_PYTHON.exists():
    pytest.exit(f"{IMAGE_PYTHON} is missing: run `make install` first", returncode=2)


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
    model.tar.gz, under ``root``, and ``environment`` mapped onto it."""
    opt_ml = root / "opt" / "ml"
    shutil.copytree(model_dir, opt_ml / "model")
    return StagedModel(
        opt_ml=opt_ml, environment={k: remap(v, opt_ml) for k, v in environment.items()}
    )
