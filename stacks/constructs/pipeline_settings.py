"""What the training pipeline's definition is built from: the stage's options, and the
container paths, placeholders and settings its steps share with the constructs that
start the same containers (``stacks/constructs/monitor_schedule.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from config.layout import SubVariable
from config.schema import QualityGate

PROCESSING = "/opt/ml/processing"
CODE_DIR = f"{PROCESSING}/input/code"
# Run a processing step's script from the source bundle, as the SDK v2 FrameworkProcessor
# did: unpack the bundle, then run the script with the step's arguments ("$0" "$@").
PROCESSING_LAUNCHER = (
    'set -euo pipefail; src="$(mktemp -d)"; '
    f'tar -xzf "{CODE_DIR}"/*.gz -C "$src"; '
    'cd "$src"; exec python3 "$0" "$@"'
)
CACHE_FOR = "P30D"
# The image's toolkit `pip install`s the code folder at start (training and serving), and
# the image's pip (26.1) builds it in an isolated build environment that downloads
# setuptools: with network isolation there is no index and the job or model never starts.
# Off ("false" is pip's spelling for a --no-* switch), the build uses the image's own
# setuptools (80.10.2). tests/contract runs both without a network to prove it.
TOOLKIT_ENVIRONMENT = {"PIP_NO_BUILD_ISOLATION": "false"}
INFERENCE_CONTENT_TYPES = ["text/csv", "application/json", "application/jsonlines"]


def _asset_uri(key: SubVariable) -> str:
    return f"s3://{SubVariable.ASSETS_BUCKET.ref}/{key.ref}"


# The source bundle is a CDK file asset (see stacks/constructs/code_bundle.py).
SOURCE_BUNDLE_URI = _asset_uri(SubVariable.SOURCE_BUNDLE_KEY)


def _role_arn(name: SubVariable) -> str:
    return "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + name.ref


# Processing steps run as the jobs' role; the Train step as a role of its own, the only
# one that may write model artifacts (stacks/constructs/training_pipeline.py).
ROLE_ARN = _role_arn(SubVariable.EXECUTION_ROLE_NAME)
TRAINING_ROLE_ARN = _role_arn(SubVariable.TRAINING_ROLE_NAME)
# Network isolation hands the Train container no credentials, so the toolkit cannot
# download sagemaker_submit_directory from S3 itself: the bundle comes in as a channel
# (as SDK v2 did for isolated script mode) and the toolkit extracts the local file.
CODE_CHANNEL = "code"
CODE_CHANNEL_BUNDLE = f"/opt/ml/input/data/{CODE_CHANNEL}/{SubVariable.SOURCE_BUNDLE_FILE.ref}"


@dataclass(frozen=True, kw_only=True)
class PipelineOptions:
    """What a stage decides about its training pipeline."""

    region: str
    dataset: str
    quality_gate: QualityGate
    # The schema names facets: Evaluate writes bias reports the registry takes.
    bias_reports: bool = False
    processing_instance_type: str = "ml.m5.large"
    training_instance_type: str = "ml.m5.xlarge"
    inference_instance_types: tuple[str, ...] = ("ml.m5.large", "ml.c5.large")
    spot_training: bool = False
    max_training_seconds: int = 3600
    # A processing step that hangs (a stuck download, a runaway script) is stopped and
    # the execution fails, instead of billing an instance until SageMaker's 5-day limit.
    max_processing_seconds: int = 3600
    # VPC mode: the jobs' subnets and security groups (ids, or ``${...}`` placeholders
    # the construct fills); empty: no VPC.
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    hyperparameters: tuple[tuple[str, str], ...] = (
        ("max_depth", "6"),
        ("eta", "0.1"),
        ("num_round", "300"),
        ("early_stopping_rounds", "20"),
    )
