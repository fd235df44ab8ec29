"""A network-isolated job, locally: the container gets no credentials and no AWS endpoint,
as SageMaker gives an isolated container none; a job that is not isolated keeps both."""

from __future__ import annotations

import sys

import pytest

from local.pipeline.sagemaker_jobs import isolated, network_env, run_processing_job

ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "token",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:5000",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PATH": "/usr/bin",
}


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"NetworkConfig": {"EnableNetworkIsolation": True}}, True),  # processing
        ({"EnableNetworkIsolation": True}, True),  # training
        ({"NetworkConfig": {"EnableNetworkIsolation": False}}, False),
        ({}, False),
    ],
)
def test_isolation_is_read_from_either_request_shape(request_, expected) -> None:
    assert isolated(request_) is expected


def test_an_isolated_container_gets_no_credentials_and_no_endpoint() -> None:
    env = network_env(ENV, {"EnableNetworkIsolation": True})
    assert env == {
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": "/usr/bin",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def test_a_job_that_is_not_isolated_keeps_its_environment() -> None:
    assert network_env(ENV, {"NetworkConfig": {"EnableNetworkIsolation": False}}) == ENV


class _NoS3:
    """A job with no inputs or outputs touches no S3."""


def _probe_request(isolate: bool) -> dict:
    # The container's own view: does it see credentials?
    script = "import os, sys; sys.exit(3 if 'AWS_ACCESS_KEY_ID' in os.environ else 0)"
    return {
        "AppSpecification": {
            "ImageUri": "local",
            "ContainerEntrypoint": [sys.executable, "-c", script],
        },
        "NetworkConfig": {"EnableNetworkIsolation": isolate},
    }


def test_the_isolated_process_really_runs_without_credentials(tmp_path) -> None:
    run = run_processing_job(
        _probe_request(True), job_name="isolated", work_dir=tmp_path, s3=_NoS3(), env=ENV
    )
    assert run.describe["ProcessingJobStatus"] == "Completed"
    with pytest.raises(RuntimeError, match="exited with 3"):
        run_processing_job(
            _probe_request(False), job_name="open", work_dir=tmp_path, s3=_NoS3(), env=ENV
        )
