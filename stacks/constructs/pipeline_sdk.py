"""The SageMaker Python SDK (v3) as synth uses it: imported without side effects, given a
session that cannot reach AWS, kept quiet, and its image tables read offline.

``stacks/constructs/pipeline_definition.py`` builds the training pipeline with it.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import boto3
import jsonschema
from botocore.session import Session as BotocoreSession

from config.layout import SubVariable

# The SDK needs a region to import (a module creates boto3 clients in a class body);
# synth passes the stage's region explicitly anyway. Importing it builds default boto3
# sessions, whose credential lookup would try the EC2 metadata endpoint: synth never
# needs credentials, so never ask it.
SDK_ENVIRONMENT = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


@contextmanager
def sdk_environment() -> Iterator[None]:
    """``SDK_ENVIRONMENT`` (where unset) and the root logger, put back as they were: one
    of the SDK's modules calls ``logging.basicConfig(level=INFO)`` when imported, which
    would turn on every library's INFO records in the importing process."""
    saved = {name: os.environ.get(name) for name in SDK_ENVIRONMENT}
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    for name, value in SDK_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous
        root.setLevel(level)
        root.handlers[:] = handlers


with sdk_environment():
    from sagemaker.core import image_uris
    from sagemaker.core.config.config_manager import SageMakerConfig
    from sagemaker.core.config.config_schema import SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.mlops.workflow.pipeline import Pipeline

XGBOOST_VERSION = "3.2-0"


@contextmanager
def quiet_sdk() -> Iterator[None]:
    """Hold the SDK's INFO chatter ("Ignoring unnecessary instance type", ...) back."""
    loggers = [logging.getLogger(name) for name in ("sagemaker", "sagemaker.config")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def xgboost_image(region: str) -> str:
    """The XGBoost framework container's image URI in ``region`` (from the SDK's tables)."""
    with quiet_sdk():
        return str(image_uris.retrieve("xgboost", region=region, version=XGBOOST_VERSION))


def _deny_network(request: Any, **_: Any) -> None:
    raise RuntimeError(
        f"the pipeline definition must build offline, but the SDK called {request.url}"
    )


@cache
def _sdk_config_validator() -> Any:
    """A validator for the SDK's config schema, the schema itself checked once."""
    schema = SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_sdk_config(sagemaker_config: dict[str, Any] | None = None) -> None:
    """What ``jsonschema.validate(config, schema)`` does, minus re-checking the schema."""
    error = jsonschema.exceptions.best_match(_sdk_config_validator().iter_errors(sagemaker_config))
    if error is not None:
        raise error


@contextmanager
def config_schema_checked_once() -> Iterator[None]:
    """The SDK validates the session's config on every config lookup (about 60 per stage's
    definition), and each ``jsonschema.validate`` first checks the SDK's large schema
    against the JSON Schema metaschema: that repeated check was most of a whole-app
    synth. The config is still validated on every lookup; the constant schema once."""
    original = SageMakerConfig.__dict__["validate_sagemaker_config"]
    SageMakerConfig.validate_sagemaker_config = staticmethod(_validate_sdk_config)
    try:
        yield
    finally:
        SageMakerConfig.validate_sagemaker_config = original


@contextmanager
def offline_session(region: str) -> Iterator[PipelineSession]:
    """A PipelineSession that cannot reach AWS, with SDK telemetry off."""
    botocore_session = BotocoreSession()
    botocore_session.set_credentials("offline", "offline")
    botocore_session.register("before-send", _deny_network)
    # The SDK's only switch for its IAM role check (an iam:SimulatePrincipalPolicy call) is
    # this variable; the role is a placeholder here anyway.
    previous = os.environ.get("SAGEMAKER_VALIDATE_ROLE")
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"
    try:
        yield PipelineSession(
            boto_session=boto3.Session(botocore_session=botocore_session, region_name=region),
            default_bucket=SubVariable.ARTIFACTS_BUCKET.ref,
            sagemaker_config={
                "SchemaVersion": "1.0",
                "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
            },
        )
    finally:
        if previous is None:
            os.environ.pop("SAGEMAKER_VALIDATE_ROLE", None)
        else:
            os.environ["SAGEMAKER_VALIDATE_ROLE"] = previous


# What a definition builder returns: the pipeline's parameters and its top-level steps.
Built = tuple[list[Any], list[Any]]


def offline_definition(
    region: str, name: str, build: Callable[[PipelineSession], Built]
) -> dict[str, Any]:
    """A pipeline definition (JSON-ready dict) from the steps ``build`` makes with an
    offline session, the SDK quiet and its config schema checked once."""
    with (
        sdk_environment(),
        offline_session(region) as session,
        quiet_sdk(),
        config_schema_checked_once(),
        warnings.catch_warnings(),
    ):
        # "Running within a PipelineSession, there will be No Wait...": that is the point.
        warnings.simplefilter("ignore", UserWarning)
        parameters, steps = build(session)
        pipeline = Pipeline(
            name=name,
            parameters=parameters,
            steps=steps,
            sagemaker_session=session,
            # Experiment tracking per execution is optional and needs more IAM: off.
            pipeline_experiment_config=None,
        )
        definition: dict[str, Any] = json.loads(pipeline.definition())
    if definition.get("MlflowConfig") is None:
        definition.pop("MlflowConfig", None)
    return definition
