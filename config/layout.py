"""Storage layout and resource names that both the infrastructure and the runtime use.

Plain Python on purpose: the Glue jobs, the SageMaker entry points, the Lambda
functions and the local runtime import this module, never a CDK construct module.
"""

from __future__ import annotations

from enum import StrEnum

# Data-lake zones (keys inside each zone's bucket).
RAW_PREFIX = "incoming/"
PROCESSED_PREFIX = "data/"
QUARANTINE_PREFIX = "quarantine/"
CURATED_PREFIX = "data/"
GLUE_TEMP_PREFIX = "glue/temp/"
# Feedback batches (captured requests joined with ground truth) enter the raw zone here,
# so they go through the same ETL and quarantine as any other arrival.
FEEDBACK_PREFIX = f"{RAW_PREFIX}feedback/"

# Artifacts bucket.
RUNS_PREFIX = "pipeline-runs"
# A run's intermediate outputs (data splits, checkpoints), kept apart from what a model
# package registers (model, baselines, evaluation) so a lifecycle rule can expire them:
# S3 lifecycle filters match a key's leading characters only, and the execution id comes
# first under RUNS_PREFIX. Execution ids are 12 lower-case alphanumerics: never "scratch".
RUN_SCRATCH_PREFIX = f"{RUNS_PREFIX}/scratch"
DATA_CAPTURE_PREFIX = "data-capture"
GROUND_TRUTH_PREFIX = "ground-truth"
MONITORING_PREFIX = "monitoring"
VARIANT_NAME = "AllTraffic"
# Evaluate's reports beside evaluation.json (training/explain.py): the registry files
# them as the version's ModelMetrics.Bias and ModelMetrics.Explainability.
BIAS_PRE_TRAINING_REPORT = "bias_pre_training.json"
BIAS_POST_TRAINING_REPORT = "bias_post_training.json"
EXPLANATIONS_REPORT = "explanations.json"


def resource_name(stage: str, dataset: str, kind: str) -> str:
    """A readable physical name for resources that need one (SageMaker requires names)."""
    return f"{dataset}-{kind}-{stage}".replace("_", "-").lower()


def alarm_name(stage: str, dataset: str, kind: str = "") -> str:
    """Monitoring alarm names, e.g. ("Dev", "churn", "drift") -> "mlops-dev-churn-drift".

    With no ``kind``, the prefix every alarm of the stage shares: the retrain trigger
    acts only on alarms whose name starts with it.
    """
    return f"mlops-{stage}-{dataset}-{kind}".replace("_", "-").lower()


# Model promotion: one SSM parameter per stage holds the model package version the
# stage serves. NO_MODEL_VERSION is its value until a version is approved (the Serving
# stack creates no endpoint while it is set).
NO_MODEL_VERSION = "none"


def model_version_parameter(stage: str, dataset: str) -> str:
    """Name of the SSM parameter recording the model package ARN that ``stage`` serves."""
    return f"/mlops/{dataset}/{stage}/served-model-package".replace("_", "-").lower()


def model_artifact_parameter(stage: str, dataset: str) -> str:
    """Name of the SSM parameter recording the ``s3://`` URL of the served version's
    model.tar.gz (written with the version; the endpoint's role reads that object only)."""
    return f"/mlops/{dataset}/{stage}/served-model-artifact".replace("_", "-").lower()


def no_model_artifact(artifacts_bucket: str) -> str:
    """The artifact parameter's value until a version is approved: an object under the
    runs prefix that no run writes (so the grant built from it grants nothing)."""
    return f"s3://{artifacts_bucket}/{RUNS_PREFIX}/{NO_MODEL_VERSION}"


# The release a stage's promotion records for the stages that serve its registry: one
# StringList parameter (one value, so a reader never sees half of a change), its items in
# this order.
RELEASE_FIELDS = ("model_package_arn", "model_data_url", "model_data_sha256", "kms_key_arn")


def no_model_release(artifacts_bucket: str, key_arn: str) -> str:
    """The release parameter's value until a version is approved. Every item keeps its
    shape (the reader's grants are built from them at deploy time): an object no run
    writes, in the source's own bucket, and the source's own key."""
    return ",".join(
        (NO_MODEL_VERSION, no_model_artifact(artifacts_bucket), NO_MODEL_VERSION, key_arn)
    )


def model_release_parameter(stage: str, dataset: str) -> str:
    """Name of the StringList parameter recording the release ``stage`` approved last:
    package ARN, model.tar.gz URL, its SHA-256 and the key that encrypts it."""
    return f"/mlops/{dataset}/{stage}/approved-model-release".replace("_", "-").lower()


def parse_release(value: str) -> dict[str, str] | None:
    """A recorded release as a dict of ``RELEASE_FIELDS``; None for the sentinel."""
    items = value.split(",")
    if len(items) != len(RELEASE_FIELDS):
        raise ValueError(f"a release has {len(RELEASE_FIELDS)} items, got {value!r}")
    if items[0] == NO_MODEL_VERSION:
        return None
    return dict(zip(RELEASE_FIELDS, items, strict=True))


def delivery_pipeline_name(dataset: str) -> str:
    """The delivery CodePipeline's name. Fixed, because the promotion functions of every
    stage start it and the stages are deployed by it (no reference can go both ways)."""
    return f"mlops-{dataset}-delivery".replace("_", "-").lower()


def endpoint_alarm_name(stage: str, dataset: str, kind: str) -> str:
    """Name of an endpoint alarm (rollback guard), e.g. "customer-churn-endpoint-dev-5xx".

    Fixed so dashboards can show it by name; deliberately not under the monitoring
    alarms' "mlops-<stage>-<dataset>-" prefix, which the retrain trigger acts on.
    """
    return f"{resource_name(stage, dataset, 'endpoint')}-{kind}"


def operations_alarm_name(stage: str, dataset: str, kind: str) -> str:
    """Name of an alarm on a failure of the platform itself (a job, a function, a queue),
    e.g. ("Dev", "customer-churn", "glue-job-failed") -> "customer-churn-ops-dev-glue-job-failed".

    Not under the monitoring alarms' "mlops-<stage>-<dataset>-" prefix either: a failure
    pages an operator, it must never start a retrain.
    """
    return f"{resource_name(stage, dataset, 'ops')}-{kind}"


class SubVariable(StrEnum):
    """Placeholders (``${Name}``) the pipelines' definitions hold for the values a
    stage decides: ``Fn::Sub`` fills them in the cloud, the local runtime with its own."""

    ARTIFACTS_BUCKET = "ArtifactsBucket"
    CURATED_BUCKET = "CuratedBucket"
    KMS_KEY_ARN = "KmsKeyArn"
    EXECUTION_ROLE_NAME = "ExecutionRoleName"
    MODEL_PACKAGE_GROUP = "ModelPackageGroup"
    ASSETS_BUCKET = "AssetsBucket"
    SOURCE_BUNDLE_KEY = "SourceBundleKey"
    # The bundle's file name (its key's last part): where the Train step's code channel
    # puts it, /opt/ml/input/data/code/<file>.
    SOURCE_BUNDLE_FILE = "SourceBundleFile"
    TRAINING_ROLE_NAME = "TrainingRoleName"
    # The batch scoring pipeline's model (its transform jobs run as this role).
    BATCH_MODEL_ROLE_NAME = "BatchModelRoleName"

    @property
    def ref(self) -> str:
        return "${" + self.value + "}"
