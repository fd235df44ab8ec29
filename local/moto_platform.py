"""The stage's AWS side, on a moto server at 127.0.0.1: buckets, registry, pipeline.

``LocalPlatform`` starts moto on an ephemeral loopback port and creates what
CloudFormation would have created for the Dev stage's training pipeline: the curated
and artifacts buckets, the code assets where CDK publishes them, the model package
group and the pipeline itself (from the definition synthesized into ``cdk.out``).
Every client, ours and the jobs' subprocesses, reaches it through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from config.layout import CURATED_PREFIX
from local.cdk_assembly import Lookup, PipelineTemplate
from local.s3_sync import upload_dir

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
ARTIFACTS_BUCKET = "local-artifacts"
CURATED_BUCKET = "local-curated"
RAW_BUCKET = "local-raw"
JOB_ROLE = "local-pipeline-jobs"
TRAINING_ROLE = "local-pipeline-training"
BATCH_MODEL_ROLE = "local-batch-model"


def pipeline_names(key_arn: str) -> Lookup:
    """Local values for the references in the synthesized pipeline definition: the pseudo
    parameters, the data lake's exports (matched by export name) and the stack's two job
    roles and the batch model's (matched by logical id)."""
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
    exports = {
        "ArtifactsBucketName": ARTIFACTS_BUCKET,
        "CuratedBucketName": CURATED_BUCKET,
        "KeyArn": key_arn,
    }
    roles = {
        "TrainingJobRole": JOB_ROLE,
        "TrainingTrainingRole": TRAINING_ROLE,
        "BatchModelRole": BATCH_MODEL_ROLE,
    }

    def lookup(function: str, name: str) -> str | None:
        if function == "Fn::ImportValue":
            return next((v for fragment, v in exports.items() if name.endswith(fragment)), None)
        if function == "Ref":
            return pseudo.get(name) or next(
                (v for prefix, v in roles.items() if name.startswith(prefix)), None
            )
        return None

    return lookup


@dataclass
class LocalPlatform:
    """Clients and names of the local stage; ``env`` is what job subprocesses get."""

    endpoint: str
    env: dict[str, str]
    sagemaker: Any
    s3: Any
    pipeline_name: str = ""
    model_package_group: str = ""
    key_arn: str = ""

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def install(self, template: PipelineTemplate, curated_dir: Path) -> dict[str, Any]:
        """Create buckets, data, assets, group and pipeline; return the rendered definition."""
        for bucket in {ARTIFACTS_BUCKET, CURATED_BUCKET, *(b for b, _ in template.assets)}:
            self.s3.create_bucket(Bucket=bucket)
        self.publish_curated(curated_dir)
        for (bucket, key), path in template.assets.items():
            self.s3.upload_file(str(path), bucket, key)
        key_arn = self.client("kms").create_key(Description="local stage key")["KeyMetadata"]["Arn"]
        self.key_arn = key_arn
        definition = template.render(lookup=pipeline_names(key_arn))
        self.model_package_group = template.model_package_group
        self.sagemaker.create_model_package_group(ModelPackageGroupName=self.model_package_group)
        self.pipeline_name = template.name
        self.sagemaker.create_pipeline(
            PipelineName=template.name,
            PipelineDefinition=json.dumps(definition),
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{JOB_ROLE}",
        )
        return definition

    def install_batch(self, template: PipelineTemplate) -> dict[str, Any]:
        """Create the batch scoring pipeline beside the installed training pipeline (same
        buckets, key, assets and group); return its rendered definition."""
        if not self.key_arn:
            raise RuntimeError("install the training pipeline first: the batch one uses its stage")
        definition = template.render(lookup=pipeline_names(self.key_arn))
        self.sagemaker.create_pipeline(
            PipelineName=template.name,
            PipelineDefinition=json.dumps(definition),
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{JOB_ROLE}",
        )
        return definition

    def publish_curated(self, curated_dir: Path) -> None:
        """Replace the curated zone in S3 with ``curated_dir`` (what the Glue job's
        overwrite leaves): objects of an earlier write must not be read again."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=CURATED_BUCKET, Prefix=CURATED_PREFIX
        )
        for page in pages:
            for item in page.get("Contents", []):
                self.s3.delete_object(Bucket=CURATED_BUCKET, Key=item["Key"])
        upload_dir(self.s3, curated_dir, f"s3://{CURATED_BUCKET}/{CURATED_PREFIX}")

    def model_packages(self) -> list[dict[str, Any]]:
        """Every version in the group, oldest first, with its metrics report."""
        listing = self.sagemaker.list_model_packages(
            ModelPackageGroupName=self.model_package_group,
            SortBy="CreationTime",
            SortOrder="Ascending",
        )["ModelPackageSummaryList"]
        packages = []
        for summary in listing:
            described = self.sagemaker.describe_model_package(
                ModelPackageName=summary["ModelPackageArn"]
            )
            uri = described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            report = json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            packages.append(
                {
                    "arn": described["ModelPackageArn"],
                    "version": described["ModelPackageVersion"],
                    "approval_status": described["ModelApprovalStatus"],
                    "metrics": {
                        name: value["value"]
                        for group, metrics in report.items()
                        if group.endswith("_metrics")
                        for name, value in metrics.items()
                        if isinstance(value, dict) and "value" in value
                    },
                    "model_data": described["InferenceSpecification"]["Containers"][0][
                        "ModelDataUrl"
                    ],
                }
            )
        return packages


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` for the block (in-process code that reads it: the
    retrain handler, the Glue jobs' metrics client), then restored."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def local_platform(base_env: Mapping[str, str] | None = None) -> Iterator[LocalPlatform]:
    """A moto server on 127.0.0.1 (ephemeral port) for the duration of the block."""
    # One log line per request would drown the run's own output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto keeps its state per process, not per server: start from an empty account.
        urllib.request.urlopen(
            urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
        ).close()
        env = {
            **(base_env if base_env is not None else os.environ),
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        platform = LocalPlatform(endpoint=endpoint, env=env, sagemaker=None, s3=None)
        platform.sagemaker = platform.client("sagemaker")
        platform.s3 = platform.client("s3")
        yield platform
    finally:
        server.stop()
